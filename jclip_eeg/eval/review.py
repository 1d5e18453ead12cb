"""Detections for a clinician's review: MNE annotations, an EDFbrowser annotation file, a picture.

* `write_mne_annotations`: MNE's own text format (`# MNE-Annotations`, onsets in
  seconds from the recording start), read back by `mne.read_annotations(path)`
  and attached with `raw.set_annotations(...)` to the EDF read by
  `mne.io.read_raw_edf`.
* `write_edfbrowser_xml`: EDFbrowser's XML annotation list (root
  `annotationlist`, one `annotation` with `onset` as ISO clock time, `duration`
  in seconds and `description`), which EDFbrowser's File -> Import
  annotations/events reads without any column settings; the onsets are clock
  times, so it needs the EDF's start date.
* `plot_detection`: one PNG with the EEG traces around each detection (band-
  passed 0.5-30 Hz for display only), and under them the whole recording's
  smoothed seizure probability with the threshold the events were cut at,
  detected and reference seizures shaded, clock time on the axes when the EDF
  start is known (seconds otherwise).
"""

from __future__ import annotations

import datetime
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import mne
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure
from scipy import signal

from jclip_eeg.eval.detection import Detection
from jclip_eeg.eval.events import DetectedEvent, smooth

DISPLAY_BAND_HZ = (0.5, 30.0)
CONTEXT_S = (20.0, 40.0)  # EEG shown before a detection's onset and after it (at most its first CONTEXT_S[1])
MAX_PANELS = 4


def _description(event: DetectedEvent) -> str:
  return event.event_type if event.confidence is None else f"{event.event_type} p={event.confidence:.2f}"


def write_mne_annotations(path: str | os.PathLike, detected: Sequence[DetectedEvent]) -> None:
  """The events as MNE annotations in MNE's text format (module docstring); descriptions `sz p=0.87`."""
  annotations = mne.Annotations([e.onset for e in detected], [e.duration for e in detected],
                                [_description(e) for e in detected])
  annotations.save(str(path), overwrite=True, verbose="error")


def write_edfbrowser_xml(path: str | os.PathLike, detected: Sequence[DetectedEvent],
                         start: datetime.datetime) -> None:
  """The events as an EDFbrowser annotation list (module docstring), onsets = `start` + onset."""
  root = ElementTree.Element("annotationlist")
  for e in detected:
    item = ElementTree.SubElement(root, "annotation")
    onset = start + datetime.timedelta(seconds=e.onset)
    ElementTree.SubElement(item, "onset").text = onset.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    ElementTree.SubElement(item, "duration").text = f"{e.duration:.3f}"
    ElementTree.SubElement(item, "description").text = _description(e)
  ElementTree.indent(root)
  ElementTree.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def read_edfbrowser_xml(path: str | os.PathLike) -> list[tuple[datetime.datetime, float, str]]:
  """(onset clock time, duration s, description) of each annotation in an EDFbrowser XML list."""
  root = ElementTree.parse(path).getroot()
  return [(datetime.datetime.fromisoformat(a.findtext("onset")), float(a.findtext("duration") or 0.0),
           a.findtext("description") or "") for a in root.iter("annotation")]


# ----------------------------------------------------------------------------- the picture


def _axis_times(seconds: np.ndarray, start: datetime.datetime | None) -> np.ndarray:
  """x coordinates: matplotlib dates of `start` + seconds, or the seconds themselves without a start."""
  if start is None:
    return seconds
  return mdates.date2num(start) + np.asarray(seconds) / 86400.0


def _format_time_axis(ax, start: datetime.datetime | None) -> None:
  if start is None:
    ax.set_xlabel("time from the recording start (s)")
    return
  ax.xaxis.set_major_locator(ticker.MaxNLocator(4))
  ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
  ax.set_xlabel(f"clock time (recording start {start:%Y-%m-%d %H:%M:%S})")


def _display(eeg: np.ndarray, sfreq: float) -> np.ndarray:
  """(C, n) µV -> band-passed for display (zero phase), mean removed."""
  sos = signal.butter(4, DISPLAY_BAND_HZ, btype="bandpass", fs=sfreq, output="sos")
  eeg = eeg - eeg.mean(axis=1, keepdims=True)
  return signal.sosfiltfilt(sos, eeg, axis=1, padlen=min(eeg.shape[1] - 1, int(3 * sfreq)))


def _plot_traces(ax, detection: Detection, event: DetectedEvent, reference: Sequence[tuple[float, float]]) -> None:
  """The picked channels around one event, stacked, the event (and any reference seizure) shaded."""
  source = detection.source
  lo = max(0.0, event.onset - CONTEXT_S[0])
  hi = min(detection.duration_s, event.onset + min(event.duration, CONTEXT_S[1]) + CONTEXT_S[0])
  eeg = _display(source.read(int(lo * source.sfreq), int(hi * source.sfreq)), source.sfreq)
  spacing = 8 * np.median(np.std(eeg, axis=1)) or 1.0
  times = _axis_times(lo + np.arange(eeg.shape[1]) / source.sfreq, detection.start)
  for row, channel in enumerate(eeg):
    ax.plot(times, channel - row * spacing, color="black", linewidth=0.4)
  ax.set_yticks(-np.arange(len(eeg)) * spacing, detection.channel_names, fontsize=5)
  _shade(ax, [(event.onset, event.end)], detection.start, "tab:blue", "detected")
  _shade(ax, [(a, b) for a, b in reference if b > lo and a < hi], detection.start, "tab:red", "reference")
  ax.set_xlim(times[0], times[-1])
  ax.set_title(f"{_description(event)}, {event.duration:.0f} s", fontsize="small")
  _format_time_axis(ax, detection.start)


def _shade(ax, intervals: Sequence[tuple[float, float]], start: datetime.datetime | None, color: str,
           label: str) -> None:
  for k, (a, b) in enumerate(intervals):
    x0, x1 = _axis_times(np.array([a, b]), start)
    ax.axvspan(x0, x1, color=color, alpha=0.2, linewidth=0, label=label if k == 0 else None)


def plot_detection(path: str | os.PathLike, detection: Detection, title: str,
                   reference: Sequence[tuple[float, float]] | None = None) -> Path:
  """The review picture of one recording (module docstring): at most `MAX_PANELS` detections, the most
  confident first, then the probability over the whole recording."""
  reference = list(reference or [])
  shown = sorted(detection.events, key=lambda e: -(e.confidence or 0.0))[:MAX_PANELS]
  fig = Figure(figsize=(4.2 * max(1, len(shown)), 7.5 if shown else 3.0), layout="constrained")
  grid = fig.add_gridspec(2 if shown else 1, max(1, len(shown)), height_ratios=[3, 1] if shown else [1])
  for column, event in enumerate(sorted(shown, key=lambda e: e.onset)):
    _plot_traces(fig.add_subplot(grid[0, column]), detection, event, reference)
  ax = fig.add_subplot(grid[-1, :])
  settings = detection.settings
  seconds = np.arange(len(detection.probs)) + 0.5
  ax.plot(_axis_times(seconds, detection.start), smooth(detection.probs, round(settings.smooth_s)),
          color="black", linewidth=0.8, label=f"p(seizure), {settings.smooth_s:g}-s moving average")
  ax.axhline(settings.threshold, color="tab:blue", linestyle="--", linewidth=1,
             label=f"threshold {settings.threshold:g}")
  _shade(ax, [(e.onset, e.end) for e in detection.events], detection.start, "tab:blue", "detected")
  _shade(ax, reference, detection.start, "tab:red", "reference")
  ax.set(ylim=(-0.02, 1.02), ylabel="p(seizure)")
  ax.set_xlim(*_axis_times(np.array([0.0, detection.duration_s]), detection.start))
  _format_time_axis(ax, detection.start)
  ax.legend(loc="upper right", fontsize="x-small", ncols=4)
  more = f", showing {len(shown)} of {len(detection.events)}" if len(detection.events) > len(shown) else ""
  fig.suptitle(f"{title}: {len(detection.events)} detection(s){more} (minimum {settings.min_duration_s:g} s, "
               f"merge gap {settings.merge_gap_s:g} s)", fontsize="medium")
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  return path
