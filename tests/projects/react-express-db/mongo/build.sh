#!/bin/sh
# Build the image-only `mongo` service's image by hand (compose.yaml has no build section for it):
#   BASE_IMAGE=agentlab/base:offline tests/projects/react-express-db/mongo/build.sh
set -eu
cd "$(dirname "$0")"
exec docker build --build-arg BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}" \
    --build-arg VERSION=4.2.0 -t agentlab-test/mongo:4.2.0 .
