#!/usr/bin/env bash
# A Kiln task: input arrives as INPUT_* variables, stdout is the output. State and outputs go to
# the $KILN_STATE / $KILN_OUTPUT files (key=value lines), which echoed input can never forge.
set -euo pipefail
name="${INPUT_NAME:-world}"
echo "::progress percent=50::greeting ${name}"
echo "greeted=${name}" >> "$KILN_STATE"
printf '{"greeting":"Hello, %s!","attempt":%s}\n' "${name}" "${KILN_ATTEMPT}"
