/* target/scsi.h: not yet implemented. */
#ifndef BALLAST_TARGET_SCSI_H
#define BALLAST_TARGET_SCSI_H
#endif
