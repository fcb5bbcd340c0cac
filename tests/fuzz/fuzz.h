/* The libFuzzer entry point every tests/fuzz/fuzz-*.c target defines. */
#ifndef BALLAST_TESTS_FUZZ_H
#define BALLAST_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
