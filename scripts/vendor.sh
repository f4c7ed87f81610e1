#!/usr/bin/env bash
# Re-create static/tasks_app/vendor/ from the versions pinned in package.json / package-lock.json.
# The copied files are committed: running Arbor needs neither npm nor a build step. Run this only
# to upgrade a library (edit package.json, `npm install`, then this script, then commit).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
OUT=static/tasks_app/vendor
mkdir -p "$OUT"
cp node_modules/cytoscape/dist/cytoscape.min.js "$OUT/cytoscape.min.js"
cp node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js "$OUT/cytoscape-dagre.min.js"
cp node_modules/cytoscape-edgehandles/cytoscape-edgehandles.js "$OUT/cytoscape-edgehandles.js"
# edgehandles' UMD build expects lodash's memoize and throttle as window._.memoize/_.throttle; the
# two npm packages are CommonJS, so wrap them (unchanged) in a tiny module scope.
{
  echo "/* lodash.memoize $(node -p "require('./node_modules/lodash.memoize/package.json').version") and lodash.throttle $(node -p "require('./node_modules/lodash.throttle/package.json').version") (MIT), wrapped for <script> use by scripts/vendor.sh */"
  for name in memoize throttle; do
    echo "(function () { var module = { exports: {} }; var exports = module.exports;"
    cat "node_modules/lodash.$name/index.js"
    echo "window._ = window._ || {}; window._.$name = module.exports; })();"
  done
} > "$OUT/lodash-shim.js"
for pkg in cytoscape cytoscape-dagre cytoscape-edgehandles lodash.memoize lodash.throttle; do
  cp "node_modules/$pkg/LICENSE" "$OUT/LICENSE.$pkg" 2>/dev/null || cp "node_modules/$pkg/LICENSE.txt" "$OUT/LICENSE.$pkg"
done
node -e '
const lock = require("./package-lock.json").packages;
const names = ["cytoscape", "cytoscape-dagre", "cytoscape-edgehandles", "lodash.memoize", "lodash.throttle"];
console.log(names.map(n => `${n} ${lock["node_modules/" + n].version}`).join("\n"));
' > "$OUT/VERSIONS.txt"
echo "vendored into $OUT:"; cat "$OUT/VERSIONS.txt"
