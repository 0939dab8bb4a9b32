#!/bin/sh
# An HTTP echo server for tests and demos. busybox nc listening with -l given
# twice or more forks one handler per connection, so concurrent requests are
# served and every path answers (busybox httpd only runs CGIs under
# /cgi-bin/). nc passes the number of l's to listen() as its backlog: -ll
# queues 2 connections, and a burst of clients lost SYNs (1 s and 3 s
# retransmits), so it gets 64. PID 1 traps TERM so a stop takes
# milliseconds, not the whole grace period.
port="${PORT:-8080}"
listen=-l
while [ "${#listen}" -le 64 ]; do listen="${listen}l"; done
nc "$listen" -p "$port" -e /handler.sh &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 0' TERM INT
echo "echo server listening on :$port"
wait "$pid"
