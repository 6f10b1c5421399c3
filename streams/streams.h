// Umbrella header for corio's streams module: #include "corio/streams/streams.h".
#ifndef CORIO_STREAMS_STREAMS_H_
#define CORIO_STREAMS_STREAMS_H_

#include "corio/streams/async_generator.h"
#include "corio/streams/async_with.h"
#include "corio/streams/broadcast.h"
#include "corio/streams/combinators.h"
#include "corio/streams/errors.h"
#include "corio/streams/memory_pipe.h"
#include "corio/streams/stream_protocol.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/stream_writer.h"
#include "corio/streams/transport.h"

#endif  // CORIO_STREAMS_STREAMS_H_
