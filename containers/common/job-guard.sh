# Sourced by bash before every non-interactive bash script in the image (BASH_ENV), and
# acts only on the job script that snakemake-executor-plugin-googlebatch 0.5.1 writes for
# Container-Optimized OS VMs (/tmp/workdir/entrypoint.sh). That script is
#
#   pip install --target '.snakemake/pip-deployments' snakemake-storage-plugin-gcs && \
#     python -m snakemake --deploy-sources ... && python -m snakemake ... --mode remote
#   python3 -m pip install boto3==1.33.11
#   python3 -m pip install urllib3==1.26.17
#
# without `set -e`, so the container's exit status was that of the last pip install: a
# failed prediction was reported SUCCEEDED, and a VM without internet egress FAILED even
# when the prediction succeeded. `set -e` alone is not enough: bash ignores the failure of
# any command of an `a && b && c` list but the last, so a failed install or
# `--deploy-sources` would still run on to the trailing lines and exit 0. Here:
#   - every pip/python/python3 command (all the chain's commands are) that fails ends the
#     job at once with its exit status, and says which one it was;
#   - the storage-plugin install is skipped when the image already has the packages
#     (Snakemake only appends that --target directory to sys.path, after site-packages,
#     so the preinstalled, pinned copies are the ones used anyway);
#   - the two boto3/urllib3 installs, a workaround for an S3 client this workflow does
#     not use, are skipped.
# Nothing is then downloaded when a job starts.
if [[ "$0" == */workdir/entrypoint.sh ]]; then
    set -e

    # Runs the command (not these functions) and ends the job if it fails.
    must_succeed() {
        local status=0
        command "$@" || status=$?
        if ((status != 0)); then
            echo "omtx-hub job guard: '${*:1:4} ...' failed with exit status $status;" \
                "the job fails" >&2
            exit "$status"
        fi
    }

    pip() {
        if [[ "$1" == install && "$2" == --target && "$3" == *.snakemake/pip-deployments* ]]; then
            local packages=("${@:4}")
            if command python -c 'import sys, importlib.metadata as m; [m.version(p) for p in sys.argv[1:]]' \
                "${packages[@]}" 2>/dev/null; then
                echo "omtx-hub job guard: ${packages[*]} preinstalled in the image; not installing" >&2
                return 0
            fi
        fi
        must_succeed pip "$@"
    }

    python() {
        must_succeed python "$@"
    }

    python3() {
        if [[ "$1" == -m && "$2" == pip && "$3" == install \
            && ("$4" == boto3==* || "$4" == urllib3==*) ]]; then
            echo "omtx-hub job guard: skipping the plugin's '$4' install (not used)" >&2
            return 0
        fi
        must_succeed python3 "$@"
    }
fi
