/* initiator/nbd_kernel.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_NBD_KERNEL_H
#define BALLAST_INITIATOR_NBD_KERNEL_H
#endif
