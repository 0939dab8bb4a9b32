#!/bin/sh
# An HTTP echo server for tests and demos. busybox nc with -ll forks one
# handler per connection, so concurrent requests are served and every path
# answers (busybox httpd only runs CGIs under /cgi-bin/). PID 1 traps TERM
# so a stop takes milliseconds, not the whole grace period.
port="${PORT:-8080}"
nc -ll -p "$port" -e /handler.sh &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 0' TERM INT
echo "echo server listening on :$port"
wait "$pid"
