# ELU Twins for distributed mode: one image for every service of docker-compose.yml
# (public and private API, workers, Flower, migrations, the two test CSMSs).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group elu

WORKDIR /src

# The dependencies first, in their own layer: a change of the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY shared ./shared
COPY public_api ./public_api
COPY private_api ./private_api
COPY worker ./worker
COPY csms_v16 ./csms_v16
COPY csms_v201 ./csms_v201
COPY elu_twins ./elu_twins
COPY migrations ./migrations
RUN pip install . && cd / && rm -rf /src

USER elu
WORKDIR /home/elu
EXPOSE 8000 8800 5555 9000 9201
CMD ["elu-twins", "--help"]
