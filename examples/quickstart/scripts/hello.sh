#!/usr/bin/env bash
# A Kiln task: input arrives as INPUT_* variables, ::commands talk to Kiln, stdout is the output.
set -euo pipefail
name="${INPUT_NAME:-world}"
echo "::progress percent=50::greeting ${name}"
echo "::set-state key=greeted::${name}"
printf '{"greeting":"Hello, %s!","attempt":%s}\n' "${name}" "${KILN_ATTEMPT}"
