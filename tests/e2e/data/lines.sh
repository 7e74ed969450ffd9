#!/bin/sh
# lines.sh NAME COUNT [WIDTH]: prints COUNT lines "NAME-000000-xxx..." of exactly WIDTH
# characters (default 100) each, numbered from 0; the tests rebuild the same lines.
exec awk -v name="$1" -v count="$2" -v width="${3:-100}" 'BEGIN {
  pad = "x"
  while (length(pad) < width) pad = pad pad
  for (i = 0; i < count; i++) {
    s = sprintf("%s-%06d-", name, i)
    printf "%s%s\n", s, substr(pad, 1, width - length(s))
  }
}'
