#!/bin/sh
# Build the image-only `db` service's image by hand (compose.yaml has no build section for it):
#   BASE_IMAGE=agentlab/base:offline tests/projects/nginx-flask-db/db/build.sh
set -eu
cd "$(dirname "$0")"
exec docker build --build-arg BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}" \
    --build-arg VERSION=10-focal -t agentlab-test/mariadb:10-focal .
