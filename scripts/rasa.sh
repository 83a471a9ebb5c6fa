#!/usr/bin/env bash
# Rasa's own environment, training and server for the project in bots/.
#
#   scripts/rasa.sh env              create (or reuse) Rasa's virtualenv
#   scripts/rasa.sh train [PROJECT]  train PROJECT (default bots/) unless already trained;
#                                    prints the model's path as the last line
#   scripts/rasa.sh model [PROJECT]  prints the path the trained model has (or will have)
#   scripts/rasa.sh serve [ARGS...]  serve bots/'s model: `rasa run --enable-api` on
#                                    OMNIHUB_RASA_HOST:OMNIHUB_RASA_PORT (127.0.0.1:5005);
#                                    ARGS go to `rasa run`
#
# Rasa pins libraries years older than the hub's (see docs/decisions.md), so it never
# lives in the hub's environment: it gets its own, cached outside the clone in
# OMNIHUB_RASA_HOME (default ~/.cache/omnihub/rasa) with the trained models, so that
# neither CI nor a developer rebuilds it or retrains an unchanged project. The
# environment uses Python 3.10 (pyenv's or python3.10) when there is one, else the
# Python 3.11 recipe; OMNIHUB_RASA_PYTHON names another interpreter.
set -euo pipefail

RASA_VERSION=3.6.21
RASA_SDK_VERSION=3.6.2  # what rasa 3.6.21 resolves to on Python 3.10
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RASA_HOME=${OMNIHUB_RASA_HOME:-$HOME/.cache/omnihub/rasa}
VENV=$RASA_HOME/venv-$RASA_VERSION
PY=$VENV/bin/python  # always `python -m`: the venv is built elsewhere and moved in place

export RASA_TELEMETRY_ENABLED=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1
export RASA_CACHE_DIRECTORY=${RASA_CACHE_DIRECTORY:-$RASA_HOME/cache}  # components reused
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf 'rasa.sh: %s\n' "$*" >&2; }

env_works() {
    [ -f "$VENV/.complete" ] && "$PY" -c "
import importlib.metadata, sys
sys.exit(importlib.metadata.version('rasa') != '$RASA_VERSION')
" 2>/dev/null
}

python_310() {  # prints a Python 3.10 interpreter, if there is one
    local candidate
    if command -v pyenv >/dev/null; then
        for candidate in $(ls -d "$(pyenv root)"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
            "$candidate" -c '' 2>/dev/null && { echo "$candidate"; return; }
        done
    fi
    command -v python3.10 || true
}

# Python 3.11 only: rasa declares <3.11 but runs. pip cannot resolve it there, so rasa
# goes in without dependencies and then its own requirements as they read on 3.10,
# with matplotlib 3.6 (3.5 has no 3.11 wheels). rasa-sdk's own pins conflict, but
# rasa's command line imports it for its version: it goes in alone, without them.
install_on_311() {
    local py=$1
    "$py" -m pip install --no-deps --ignore-requires-python "rasa==$RASA_VERSION" \
        "rasa-sdk==$RASA_SDK_VERSION"
    "$py" - >"$2" <<'EOF'
import importlib.metadata

from pip._vendor.packaging.requirements import Requirement

on_310 = {"python_version": "3.10", "python_full_version": "3.10.13", "extra": ""}
for line in importlib.metadata.requires("rasa") or []:
    req = Requirement(line)
    if req.name == "rasa-sdk" or (req.marker and not req.marker.evaluate(on_310)):
        continue
    req.marker = None
    print("matplotlib>=3.6,<3.7" if req.name == "matplotlib" else req)
EOF
    "$py" -m pip install -r "$2"
}

cmd_env() {
    mkdir -p "$RASA_HOME"
    exec 9>"$RASA_HOME/.env.lock"
    flock 9  # another run may be building it: wait, then reuse
    if env_works; then
        say "reusing $VENV"
        return
    fi
    local base minor
    BUILD=$VENV.build.$$
    base=${OMNIHUB_RASA_PYTHON:-$(python_310)}
    [ -n "$base" ] || base=$(command -v python3.11 || command -v python3)
    minor=$("$base" -c 'import sys; print(sys.version_info[1])')
    rm -rf "$VENV" "$VENV".build.*  # a build interrupted earlier (we hold the lock)
    trap 'rm -rf "$BUILD"' EXIT
    say "building $VENV with $base"
    "$base" -m venv "$BUILD"
    "$BUILD/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
    if [ "$minor" -le 10 ]; then
        "$BUILD/bin/python" -m pip install "rasa==$RASA_VERSION"
    else
        say "Python 3.$minor: rasa goes in with its requirements as they read on 3.10"
        install_on_311 "$BUILD/bin/python" "$BUILD/rasa-requirements.txt"
    fi
    touch "$BUILD/.complete"
    mv "$BUILD" "$VENV"
    trap - EXIT
    env_works || { say "the new environment does not import rasa $RASA_VERSION"; exit 1; }
    say "built $VENV"
}

project_hash() {  # what a model depends on: Rasa's version and the project's YAML files
    local project=$1
    {
        echo "rasa $RASA_VERSION"
        cd "$project" && find . -maxdepth 1 -name '*.yml' -print0 | sort -z | xargs -0 sha256sum
        [ ! -d data ] || find data -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 \
            | sort -z | xargs -0 -r sha256sum
    } | sha256sum | cut -c1-16
}

model_path() {
    local project=${1:-$ROOT/bots}
    echo "$RASA_HOME/models/$(basename "$(cd "$project" && pwd)")-$(project_hash "$project").tar.gz"
}

cmd_train() {
    local project model
    project=$(cd "${1:-$ROOT/bots}" && pwd)
    model=$(model_path "$project")
    mkdir -p "$RASA_HOME/models"
    exec 8>"$RASA_HOME/.train.lock"
    flock 8  # one training at a time: a second run waits, then reuses the model
    if [ -f "$model" ]; then
        say "unchanged project, reusing $model"
    else
        env_works || { say "no Rasa environment yet: run scripts/rasa.sh env"; exit 1; }
        rm -rf "$RASA_HOME"/train.*  # left by an interrupted training (we hold the lock)
        TMP=$(mktemp -d "$RASA_HOME/train.XXXXXX")
        trap 'rm -rf "$TMP"' EXIT
        say "training $project"
        # Rasa writes beside where it runs; keep that out of the clone.
        (cd "$TMP" && "$PY" -m rasa train --quiet >&2 \
            --config "$project/config.yml" --domain "$project/domain.yml" \
            --data "$project/data" --out "$TMP/out" --fixed-model-name model)
        mv "$TMP/out/model.tar.gz" "$model"
        rm -rf "$TMP"
        trap - EXIT
    fi
    echo "$model"
}

cmd_serve() {
    local model
    model=$(cmd_train "$ROOT/bots" | tail -n1)
    mkdir -p "$RASA_HOME/run"
    cd "$RASA_HOME/run"
    say "serving $model on ${OMNIHUB_RASA_HOST:-127.0.0.1}:${OMNIHUB_RASA_PORT:-5005}"
    exec "$PY" -m rasa run --enable-api --model "$model" \
        --interface "${OMNIHUB_RASA_HOST:-127.0.0.1}" --port "${OMNIHUB_RASA_PORT:-5005}" \
        --credentials "$ROOT/bots/credentials.yml" "$@"
}

case ${1:-} in
    env) cmd_env ;;
    train) shift; cmd_train "$@" ;;
    model) shift; model_path "$@" ;;
    serve) shift; cmd_serve "$@" ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
