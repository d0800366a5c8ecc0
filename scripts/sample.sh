#!/usr/bin/env bash
# Trunk pre-build hook: copies the LFW-5 sample (the first 100 photos of each of the 5 people, in
# scikit-learn's order) from the configured data path into the build, with an index the page
# reads. The photos are never committed. Where the data is missing, the index says so and the
# page's "load sample" action explains how to get LFW.
set -euo pipefail
root="${TRUNK_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
data="${FACELAB_DATA:-$root/../shared/data}/lfw5"
out="${TRUNK_STAGING_DIR:?run by trunk as a pre_build hook}/sample"
mkdir -p "$out"
if [ ! -f "$data/sklearn_order.csv" ] || [ ! -d "$data/lfw" ]; then
  echo "sample.sh: $data not found; the page will explain how to get LFW-5" >&2
  printf '{"missing": "%s"}\n' "$data" > "$out/lfw5.json"
  exit 0
fi
csv="$data/sklearn_order.csv"
mkdir -p "$out/lfw5"
# The CSV has Windows line ends.
awk -F, '{ sub(/\r$/, "") } NR > 1 && $5 == 1 { print $4 }' "$csv" | (cd "$data/lfw" && xargs cp --parents -t "$out/lfw5")
awk -F, '
  { sub(/\r$/, "") }
  NR > 1 && $5 == 1 {
    if (!($3 in files)) { order[++n] = $3; files[$3] = "" }
    files[$3] = files[$3] (files[$3] == "" ? "" : ",") "\"" $4 "\""
  }
  END {
    printf "{\"people\": ["
    for (i = 1; i <= n; i++) printf "%s{\"name\": \"%s\", \"files\": [%s]}", (i > 1 ? ", " : ""), order[i], files[order[i]]
    print "]}"
  }' "$csv" > "$out/lfw5.json"
