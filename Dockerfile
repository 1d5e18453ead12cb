# An offline CPU image for SzCORE (https://epilepsybenchmarks.com): one exported jclip-eeg model and SzCORE's command.
#
#   python scripts/export.py --model runs/demo/student --out student.jaxexport
#   docker build --build-arg MODEL=student.jaxexport -t jclip-eeg-szcore .
#   docker run --rm --network none -e INPUT=rec.edf -e OUTPUT=rec.tsv \
#       -v "$PWD/data:/data:ro" -v "$PWD/predictions:/output:rw" jclip-eeg-szcore
#
# SzCORE runs the image exactly so (INPUT and OUTPUT name files in /data and /output); the command is
# `python3 -m jclip_eeg.szcore /data/INPUT /output/OUTPUT`, reading the model from $JCLIP_EEG_MODEL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    JAX_PLATFORMS=cpu MPLCONFIGDIR=/tmp/matplotlib \
    JCLIP_EEG_MODEL=/opt/jclip-eeg/model.jaxexport

WORKDIR /opt/jclip-eeg
COPY pyproject.toml README.md ./
COPY jclip_eeg ./jclip_eeg
RUN pip install --no-cache-dir . && python -c "import jclip_eeg.szcore"

ARG MODEL=student.jaxexport
COPY ${MODEL} /opt/jclip-eeg/model.jaxexport

# SzCORE's runner gives the container a user-writable output file, not a writable folder: run unprivileged.
RUN adduser --disabled-password --gecos "" --no-create-home --uid 10001 appuser
USER appuser

VOLUME ["/data", "/output"]
ENV INPUT="" OUTPUT=""
CMD python3 -m jclip_eeg.szcore "/data/${INPUT}" "/output/${OUTPUT}"
