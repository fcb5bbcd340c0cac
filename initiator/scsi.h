/* initiator/scsi.h: not yet implemented. */
#ifndef BALLAST_INITIATOR_SCSI_H
#define BALLAST_INITIATOR_SCSI_H
#endif
