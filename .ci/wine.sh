#!/usr/bin/env bash
# Runs the library's test suite as a Windows binary under Wine: the
# transport-independent tests (events, broadcast, reconnect, hostile frames,
# profiles, TLS) go over Windows named pipes through go-winio. Installs Wine
# from Debian when it is missing. Wine accepts pipe security descriptors but
# does not enforce them, and lacks the ioctl Go sets on UDP sockets, so those
# tests skip there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wine >/dev/null 2>&1; then
  echo "installing Wine (Debian packages wine64, wine)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wine64 wine >/dev/null
fi

export WINEPREFIX="${WINEPREFIX:-$PWD/.cache/wineprefix}" WINEDEBUG=-all
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  mkdir -p "$(dirname "$WINEPREFIX")"
  timeout 180 wine wineboot --init >/dev/null 2>&1 || true
  wineserver -w || true
fi
# Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), which Go 1.22+ needs:
# write a stand-in that forwards to advapi32.SystemFunction036.
go run ./internal/tools/wineshim "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"

out="$PWD/.cache/windows"
mkdir -p "$out"
GOOS=windows GOARCH=amd64 go test -c -o "$out/nodeipc.test.exe" .
status=0
timeout 600 wine "$out/nodeipc.test.exe" -test.count=1 -test.timeout 480s -test.v > "$out/test.log" 2>&1 || status=$?
wineserver -k || true
grep -E '^(--- (FAIL|SKIP)|FAIL|PASS|ok)' "$out/test.log" || true
printf 'Windows (Wine): %s passed, %s skipped, %s failed\n' \
  "$(grep -c -- '^--- PASS' "$out/test.log" || true)" \
  "$(grep -c -- '--- SKIP' "$out/test.log" || true)" \
  "$(grep -c -- '--- FAIL' "$out/test.log" || true)"
if [ "$status" != 0 ]; then
  tail -60 "$out/test.log"
  exit "$status"
fi
