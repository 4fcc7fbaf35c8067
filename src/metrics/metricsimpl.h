/* Private helpers shared by the metrics sources. */
#ifndef DAISI_METRICSIMPL_H
#define DAISI_METRICSIMPL_H

#include <daisi/metrics.h>
#include <daisi/sys.h>


/* registers the metric log events under DAISI_CLASSID on first use */
PETSC_INTERN PetscErrorCode DaisiMetricsRegisterEvents(void);

#endif
