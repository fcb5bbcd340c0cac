# tests/kernel: shell tests run by the automake harness (0 pass, 77 skip, 99 error).
