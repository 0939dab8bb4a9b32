#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout: answer any method and path with a
# small JSON document naming the pod, the node, the path and $MESSAGE.
# Only shell builtins, no process started: with sed and wc per request a
# request cost ~30 ms of CPU, and on a loaded machine a test's requests
# outran their timeouts waiting for it.
LC_ALL=C # ${#var} counts bytes, as Content-Length does
cr=$'\r'
read -r method path proto || exit 0
# Drain the headers so closing the socket does not reset the connection.
while read -r line; do
  line="${line%"$cr"}"
  [ -z "$line" ] && break
done
# JSON string escaping of backslashes and double quotes, into $r.
esc() {
  r="$1"
  case "$r" in *[\\\"]*) r="${r//\\/\\\\}"; r="${r//\"/\\\"}" ;; esac
}
name="${POD_NAME:-${HOSTNAME:-}}"
[ -n "$name" ] || read -r name </etc/hostname
esc "$name"; pod="$r"
esc "${NODE_NAME:-}"; node="$r"
esc "$method"; method="$r"
esc "$path"; path="$r"
esc "${MESSAGE:-}"; message="$r"
body="{\"pod\":\"$pod\",\"node\":\"$node\",\"method\":\"$method\",\"path\":\"$path\",\"message\":\"$message\"}"
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' "$((${#body} + 1))" "$body"
