# tests/unit/common/buf.cmake - unit.buf: common/buf.c, the capped growable
# buffer.
mrd_unit_test(buf mrd_common)
