/**
 * @file evpipe.h
 * @brief Umbrella header: includes every public libevpipe header.
 *
 * lambda.h is installed only by builds whose libevpipe has the Lambda
 * runtime (a client-only build leaves both out); where the compiler can
 * tell (__has_include), a missing lambda.h is skipped.
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
#if defined(__has_include)
#if __has_include("lambda.h")
#include "lambda.h"
#endif
#else
#include "lambda.h"
#endif

#endif /* EVPIPE_EVPIPE_H */
