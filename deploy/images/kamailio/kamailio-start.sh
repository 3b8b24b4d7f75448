#!/bin/sh
# Entry point of the kamailio image: render the configuration into a writable run directory
# (the root filesystem is read-only), write the first worker list, keep it up to date, run kamailio.
set -eu
RUN=${KAMAILIO_RUN:-/run/kamailio}
mkdir -p "$RUN"
LISTEN=${KAMAILIO_LISTEN:-0.0.0.0}
PORT=${KAMAILIO_PORT:-5060}
ADVERTISE=""
if [ -n "${KAMAILIO_ADVERTISE:-}" ]; then ADVERTISE="advertise $KAMAILIO_ADVERTISE:$PORT"; fi
sed -e "s|@LISTEN@|$LISTEN|" -e "s|@PORT@|$PORT|" -e "s|@ADVERTISE@|$ADVERTISE|" -e "s|@RUN@|$RUN|g" \
  /etc/kamailio/voicebot/kamailio.cfg.tmpl > "$RUN/kamailio.cfg"
: > "$RUN/dispatcher.list"
/usr/local/bin/ds-discover.sh once
kamailio -c -f "$RUN/kamailio.cfg" >/dev/null 2>&1 || { kamailio -c -f "$RUN/kamailio.cfg"; exit 1; }
/usr/local/bin/ds-discover.sh &
exec kamailio -f "$RUN/kamailio.cfg" -DD -E -m "${KAMAILIO_SHM_MB:-64}" -M "${KAMAILIO_PKG_MB:-8}" \
  -Y "$RUN" -P "$RUN/kamailio.pid"
