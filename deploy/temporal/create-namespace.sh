#!/bin/sh
# One-shot job (temporalio/admin-tools): make sure the Casebridge namespace exists with a long
# retention. A case stays readable in Temporal for the whole retention after it closes (the default
# namespace keeps closed workflows for a few days only). Idempotent: an existing namespace keeps its
# data and gets the retention set again, so changing NAMESPACE_RETENTION and re-running applies it.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${NAMESPACE_RETENTION:?}"

tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -q SERVING; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "Temporal at $TEMPORAL_ADDRESS is not serving" >&2
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    temporal operator namespace update --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" \
        --address "$TEMPORAL_ADDRESS"
    echo "namespace $NAMESPACE exists; retention $NAMESPACE_RETENTION"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" \
        --description "Casebridge cases and joint meetings" --address "$TEMPORAL_ADDRESS"
    echo "namespace $NAMESPACE created; retention $NAMESPACE_RETENTION"
fi
# A new namespace reaches every frontend through its cache (refreshed every ~10 s); wait until it
# answers so the worker and the API never start against a namespace that is not there yet.
tries=0
until temporal workflow list --namespace "$NAMESPACE" --limit 1 --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "namespace $NAMESPACE does not answer yet" >&2
        exit 1
    fi
    sleep 1
done
