#!/bin/sh
# Keeps kamailio's dispatcher list in step with the voicebot workers, then reloads it.
# VOICEBOT_WORKERS="host:port host:port"  a static list (single host, podman kube play), or
# VOICEBOT_WORKERS_DNS=name VOICEBOT_WORKERS_PORT=5060  every address of a headless Service (Kubernetes
#   lists only Ready pods: a draining worker, whose /readyz answers 503, leaves the list; the OPTIONS
#   probes already stopped new calls to it).
set -u
RUN=${KAMAILIO_RUN:-/run/kamailio}
INTERVAL=${DISCOVERY_INTERVAL_S:-5}
render() {
  if [ -n "${VOICEBOT_WORKERS_DNS:-}" ]; then
    getent ahostsv4 "$VOICEBOT_WORKERS_DNS" | awk '{print $1}' | sort -u \
      | while read -r ip; do echo "1 sip:$ip:${VOICEBOT_WORKERS_PORT:-5060}"; done
  else
    for w in ${VOICEBOT_WORKERS:-}; do echo "1 sip:$w"; done
  fi
}
once() {
  render > "$RUN/dispatcher.list.new"
  if ! cmp -s "$RUN/dispatcher.list.new" "$RUN/dispatcher.list"; then
    mv "$RUN/dispatcher.list.new" "$RUN/dispatcher.list"
    [ "${1:-}" = reload ] && kamcmd -s "unix:$RUN/kamailio_ctl" dispatcher.reload >/dev/null 2>&1
    echo "ds-discover: $(wc -l < "$RUN/dispatcher.list") worker(s)" >&2
  fi
}
if [ "${1:-}" = once ]; then once; exit 0; fi
while :; do sleep "$INTERVAL"; once reload; done
