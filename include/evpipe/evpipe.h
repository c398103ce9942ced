/**
 * @file evpipe.h
 * @brief Umbrella header: includes every public libevpipe header.
 */
#ifndef EVPIPE_EVPIPE_H
#define EVPIPE_EVPIPE_H

#include "common.h"
#include "version.h"
#include "error.h"
#include "jwt.h"
#include "conf.h"
#include "client.h"
#include "schema.h"
#include "lambda.h"

#endif /* EVPIPE_EVPIPE_H */
