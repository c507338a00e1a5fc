#!/usr/bin/env bash
# Regenerates the API reference (docs/api) from the XML documentation comments: DocFX (a local dotnet tool pinned in
# .config/dotnet-tools.json) writes markdown, then docs/tools/ApiLinks.cs turns DocFX's <xref> tags, which GitHub
# shows as nothing, into links. Run from anywhere: docs/tools/regenerate-api.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet tool restore
rm -rf docs/api
dotnet docfx metadata docs/docfx.json
dotnet run docs/tools/ApiLinks.cs -- docs/api
left=$(grep -ro '<xref' docs/api | wc -l || true)
if [ "$left" -ne 0 ]; then echo "error: $left <xref> tags left in docs/api" >&2; exit 1; fi
echo "docs/api regenerated: $(ls docs/api | wc -l) pages, 0 <xref> tags."
