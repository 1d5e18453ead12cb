"""Clinician outputs: MNE reads the annotations back, the EDFbrowser XML lists clock-time onsets, the picture."""

from __future__ import annotations

import datetime
from pathlib import Path

import mne
import numpy as np
import pytest
from matplotlib import image

from jclip_eeg.data import edf
from jclip_eeg.data.datasets import chbmit
from jclip_eeg.eval import review
from jclip_eeg.eval.detection import Detection
from jclip_eeg.eval.events import DetectedEvent, PostProcessing

DETECTED = [DetectedEvent(40.0, 22.0, 0.87), DetectedEvent(100.5, 12.25, None)]


def _detection(short_recording: Path, detected: list[DetectedEvent]) -> Detection:
  source = edf.EdfBlocks(short_recording, chbmit.MONTAGE.picks, normalise=chbmit.MONTAGE.normalise)
  probs = np.full(150, 0.1)
  for e in detected:
    probs[int(e.onset):int(e.end)] = 0.9
  return Detection(probs, detected, PostProcessing(), 150.0, source.header.start, source,
                   chbmit.MONTAGE.channel_names)


def test_mne_reads_the_annotations_back_and_attaches_them_to_the_edf(short_recording, tmp_path):
  path = tmp_path / "chb01_01_annotations.txt"
  review.write_mne_annotations(path, DETECTED)
  back = mne.read_annotations(path)
  np.testing.assert_allclose(back.onset, [40.0, 100.5])
  np.testing.assert_allclose(back.duration, [22.0, 12.25])
  assert list(back.description) == ["sz p=0.87", "sz"]
  raw = mne.io.read_raw_edf(short_recording, verbose="error")
  raw.set_annotations(back)
  np.testing.assert_allclose(raw.annotations.onset, [40.0, 100.5])  # seconds from the recording start


def test_edfbrowser_xml_has_clock_time_onsets(tmp_path):
  start = datetime.datetime(2076, 11, 6, 11, 42, 54)
  path = tmp_path / "x_edfbrowser.xml"
  review.write_edfbrowser_xml(path, DETECTED, start)
  text = path.read_text()
  assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>\n<annotationlist>")
  assert "<onset>2076-11-06T11:43:34.000</onset>" in text and "<duration>22.000</duration>" in text
  assert review.read_edfbrowser_xml(path) == [(start + datetime.timedelta(seconds=40), 22.0, "sz p=0.87"),
                                              (start + datetime.timedelta(seconds=100.5), 12.25, "sz")]


@pytest.mark.parametrize("detected", [DETECTED, []])
def test_plot_draws_traces_probability_and_events(short_recording, tmp_path, detected):
  path = review.plot_detection(tmp_path / "review.png", _detection(short_recording, detected), "chb01_01.edf",
                               reference=[(45.0, 65.0)])
  height, width = image.imread(path).shape[:2]
  assert width > 400 and height > 200
  if detected:  # two trace panels above the probability
    assert width > 2 * 4.2 * 100 and height > 7 * 100
