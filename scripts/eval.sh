#!/usr/bin/env bash
# `make eval`: accuracy on the evaluation data (../shared/data or
# $EVERIFY_EVAL_DATA, never copied here). Reports go to ${OUT:-var/eval};
# the face-match plots to docs/img/facematch*. The numbers in
# docs/EVALUATION.md come from these commands.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/everify}
OUT=${OUT:-var/eval}
DATA=${EVERIFY_EVAL_DATA:-../shared/data}
LFW=$DATA/lfw-dev
mkdir -p "$OUT/faces" docs/img/facematch docs/img/facematch-documents

# --- Face match (docs/EVALUATION.md, "Face match") --------------------------
faces() { "$BIN" eval faces --pairs "$LFW/pairs.txt" --images "$LFW/images" --quiet "$@"; }
echo "== face match: LFW protocol on lfw-dev, default (accurate) profile"
faces --plots docs/img/facematch --out "$OUT/faces/photo-accurate.json" | tee "$OUT/faces/photo-accurate.txt"
echo "== face match: fast profile"
faces --profile fast --out "$OUT/faces/photo-fast.json" | tee "$OUT/faces/photo-fast.txt"
echo "== face match: the service's face choice (largest) instead of LFW's (centred)"
faces --pick largest --out "$OUT/faces/photo-largest.json" | tee "$OUT/faces/photo-largest.txt"
echo "== face match: synthetic ID documents against photos, both profiles"
faces --documents --plots docs/img/facematch-documents --out "$OUT/faces/documents.json" | tee "$OUT/faces/documents.txt"
faces --documents --profile fast --out "$OUT/faces/documents-fast.json" | tee "$OUT/faces/documents-fast.txt"
echo "== face match: portraits found on the ID specimens"
"$BIN" eval faces --specimens "$DATA/id-docs" --quiet | tee "$OUT/faces/specimens.txt"

# --- Liveness (docs/EVALUATION.md, "Liveness") ------------------------------
if [ -x scripts/eval-liveness.sh ]; then
	scripts/eval-liveness.sh
fi
