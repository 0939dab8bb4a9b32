#!/bin/sh
# The pod sandbox's only process: it holds the pod's network namespace.
# A shell that traps TERM/INT really exits on them (PID 1 ignores signals
# whose handler is the default, so plain `sleep` would wait for SIGKILL).
trap 'exit 0' TERM INT
while :; do
  sleep 86400 &
  wait $!
done
