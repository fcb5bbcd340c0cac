/* target/pr.h: not yet implemented. */
#ifndef BALLAST_TARGET_PR_H
#define BALLAST_TARGET_PR_H
#endif
