# tests/unit/common/common.cmake - unit.common: common/ (errors, files, secrets,
# manifests, processes).  Files go to mkdtemp folders under /tmp that each
# test removes; the process tests start only /bin/true, false, echo, sleep
# and sh, and reap what they start.
mrd_unit_test(common mrd_common)

