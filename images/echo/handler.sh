#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout: answer any method and path with a
# small JSON document naming the pod, the node, the path and $MESSAGE.
cr=$(printf '\r')
read -r method path proto || exit 0
# Drain the headers so closing the socket does not reset the connection.
while read -r line; do
  line="${line%"$cr"}"
  [ -z "$line" ] && break
done
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
pod="${POD_NAME:-$(hostname)}"
body=$(printf '{"pod":"%s","node":"%s","method":"%s","path":"%s","message":"%s"}' \
  "$(esc "$pod")" "$(esc "${NODE_NAME:-}")" "$(esc "$method")" "$(esc "$path")" "$(esc "${MESSAGE:-}")")
len=$(printf '%s\n' "$body" | wc -c)
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s\n' "$len" "$body"
