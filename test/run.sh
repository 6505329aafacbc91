#!/usr/bin/env bash
# npm test: make sure the npm packages (Node 24 among them) are installed,
# then run everything on that Node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/node_modules/.bin/node" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  # npm install, not npm ci: npm 11 refuses this lock file for lacking other platforms' optional binaries.
  (cd "$root" && npm install --no-audit --no-fund)
fi
exec "$root/node_modules/.bin/node" "$root/test/run.ts" "$@"
