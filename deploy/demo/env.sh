# What both demos (run.sh, national.sh) set up: the programs of the build
# given as $1 (default build/) and --allow-root when run as root. Sourced
# with ROOT set to the source tree.
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
AGENT="$BUILD/agent/tessera-agent"
CLI="$BUILD/cli/tessera"
COLLECTOR="$BUILD/collector/tessera-collector"
# The collector and the agent refuse to run as root (a real deployment runs
# each as its own unprivileged user). `make demo` on a fresh machine often
# runs as root, so the demos pass --allow-root then, and only then.
ALLOW_ROOT=()
if [ "$(id -u)" -eq 0 ]; then ALLOW_ROOT=(--allow-root); fi
