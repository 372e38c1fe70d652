#pragma once

// The whole actor system on one page: the messages, and the typed interface of every actor.
//
//   http/ ──requests──▶ supervisor ──owns──▶ task (one per CDC task)
//                           ▲                  │
//                           └── task_status ───┘   (every state change, so list/get never
//                                                   wait on a task)
//   supervisor ──dial──▶ target_dialer  (checks a target at create time, off the scheduler)
//
//   task ──spawns──▶ reader ──events──▶ writer ──gRPC──▶ target Milvus
//     ▲                ▲                  │
//     │                └───── credit ─────┤   (bytes the writer is done with: memory stays
//     └──── progress, failure ────────────┘    bounded whatever the backlog)
//   progress: positions applied on the target → checkpoints; failure: the task starts the
//   pipeline again from the checkpoints (a server down) or pauses (anything else).

#include "actors/base/error.hpp"
#include "actors/base/task_spec.hpp"
#include "actors/reader/decode.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string>
#include <vector>

// -- message types and atoms ---------------------------------------------------------------

namespace cdc {

/// Decoded WAL events from one poll of a reader, in WAL order within each channel.
struct event_batch {
  std::vector<wal::event> events;
  /// Sum of the record sizes: the credit the sink returns once it is done with the batch.
  uint64_t bytes = 0;
};

} // namespace cdc

// Events hold parsed protobuf messages and never leave the node of their task.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cdc::event_batch)

CAF_BEGIN_TYPE_ID_BLOCK(cdc, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(cdc, (cdc::task_state))
CAF_ADD_TYPE_ID(cdc, (cdc::target_params))
CAF_ADD_TYPE_ID(cdc, (cdc::task_spec))
CAF_ADD_TYPE_ID(cdc, (cdc::task_record))
CAF_ADD_TYPE_ID(cdc, (cdc::checkpoint))
CAF_ADD_TYPE_ID(cdc, (std::vector<cdc::task_record>))
CAF_ADD_TYPE_ID(cdc, (std::vector<cdc::checkpoint>))

CAF_ADD_ATOM(cdc, cdc::atom, create, "create")
CAF_ADD_ATOM(cdc, cdc::atom, list, "list")
CAF_ADD_ATOM(cdc, cdc::atom, get, "get")
CAF_ADD_ATOM(cdc, cdc::atom, pause, "pause")
CAF_ADD_ATOM(cdc, cdc::atom, resume, "resume")
CAF_ADD_ATOM(cdc, cdc::atom, remove, "remove")
CAF_ADD_ATOM(cdc, cdc::atom, position, "position")
CAF_ADD_ATOM(cdc, cdc::atom, status, "status")
CAF_ADD_ATOM(cdc, cdc::atom, dial, "dial")
CAF_ADD_ATOM(cdc, cdc::atom, shutdown, "shutdown")
CAF_ADD_ATOM(cdc, cdc::atom, events, "events")
CAF_ADD_ATOM(cdc, cdc::atom, credit, "credit")
CAF_ADD_ATOM(cdc, cdc::atom, poll, "poll")
CAF_ADD_ATOM(cdc, cdc::atom, failure, "failure")
CAF_ADD_ATOM(cdc, cdc::atom, progress, "progress")

CAF_END_TYPE_ID_BLOCK(cdc)

namespace cdc {

// -- serialization of the message types (needed once tasks move between nodes) ------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dial_config& x) {
  return f(caf::meta::type_name("dial_config"), x.server_name, x.server_pem_path, x.ca_pem_path,
           x.client_pem_path, x.client_key_path);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, legacy_address& x) {
  return f(caf::meta::type_name("legacy_address"), x.host, x.port, x.username, x.enable_tls);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, target_params& x) {
  return f(caf::meta::type_name("target_params"), x.uri, x.token, x.connect_timeout_s, x.dial,
           x.channel_num, x.ignore_partition, x.legacy);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, collection_ref& x) {
  return f(caf::meta::type_name("collection_ref"), x.name, x.positions, x.use_start_position);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_mapping& x) {
  return f(caf::meta::type_name("name_mapping"), x.source_db, x.target_db, x.collection_mapping);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_spec& x) {
  return f(caf::meta::type_name("task_spec"), x.task_id, x.target, x.by_database, x.db_collections,
           x.name_mappings, x.enable_user_role, x.mode, x.disable_auto_start);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_record& x) {
  return f(caf::meta::type_name("task_record"), x.spec, x.state, x.reason, x.progress);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkpoint& x) {
  return f(caf::meta::type_name("checkpoint"), x.channel, x.offset, x.timestamp);
}

// -- actor interfaces ----------------------------------------------------------------------

/// One CDC task: owns its life cycle and its reader → writer pipeline, and writes the
/// checkpoints the pipeline reports.
using task_actor = caf::typed_actor<
    // Stops replication after the batch in flight; keeps the checkpoint. Running -> Paused.
    caf::reacts_to<atom::pause>,
    // Starts or continues replication from the checkpoint. Initial|Paused -> Running, at once;
    // the pipeline starts as soon as the writer of a pause has stopped.
    caf::reacts_to<atom::resume>,
    // Starts the pipeline again after a passing failure (the task's own timer; the number
    // tells a stale timer from the current one).
    caf::reacts_to<atom::resume, uint64_t>,
    // Answers the checkpoint of every source channel.
    caf::replies_to<atom::position>::with<std::vector<checkpoint>>,
    // Stops the pipeline, writes the last checkpoints and terminates (delete, shutdown).
    caf::reacts_to<atom::shutdown>,
    // The pipeline reached these positions (applied on the target, or resolved start points):
    // the task stores them as checkpoints.
    caf::reacts_to<atom::progress, std::vector<checkpoint>>,
    // The pipeline stopped on an error. Retryable (a server of the chain down): the task
    // starts the pipeline again from its checkpoints, with backoff; else it pauses with the
    // error as its reason.
    caf::reacts_to<atom::failure, std::string, bool>,
    // Publishes lag and progress (the task's own timer, once a second while running).
    caf::reacts_to<atom::poll>>;

/// Reads the WAL topics of one task from Kafka and decodes them (a detached actor: librdkafka
/// blocks). It polls only while the bytes it sent and the sink has not returned stay under
/// its credit limit.
using reader_actor = caf::typed_actor<
    // The sink is done with this many bytes of events: the reader may read as much again.
    caf::reacts_to<atom::credit, uint64_t>,
    // Reads once more (the reader's own loop; sent to itself while it has credit).
    caf::reacts_to<atom::poll>>;

/// Receives what a reader decoded (the writer of the task).
using event_sink_actor = caf::typed_actor<
    // A batch of events; the sink returns `bytes` as credit to the reader when done with it.
    caf::reacts_to<atom::events, event_batch, reader_actor>,
    // Looks again at events held back for a slow channel (the writer's own timer).
    caf::reacts_to<atom::poll>>;

/// Checks that a target Milvus answers (with its credentials) before a task is stored.
using target_dialer_actor = caf::typed_actor<
    // Dials the target with its connect_timeout; an error carries the gRPC status.
    caf::reacts_to<atom::dial, target_params>>;

/// The only entry point of the control API; owns one task actor per task.
using supervisor_actor = caf::typed_actor<
    // Validates, dials the target, stores and starts a task; answers its id.
    caf::replies_to<atom::create, task_spec>::with<std::string>,
    // Answers every task, ordered by id.
    caf::replies_to<atom::list>::with<std::vector<task_record>>,
    // Answers one task.
    caf::replies_to<atom::get, std::string>::with<task_record>,
    // Pauses a running task.
    caf::reacts_to<atom::pause, std::string>,
    // Resumes a paused (or initial) task.
    caf::reacts_to<atom::resume, std::string>,
    // Deletes a task and its checkpoints; the bool is ignore_not_found.
    caf::reacts_to<atom::remove, std::string, bool>,
    // Answers the checkpoints of a task.
    caf::replies_to<atom::position, std::string>::with<std::vector<checkpoint>>,
    // A task reports its new state and reason (sent by task actors only).
    caf::reacts_to<atom::status, std::string, task_state, std::string>,
    // A task reports its checkpoints, for list/get (sent by task actors, once a second).
    caf::reacts_to<atom::progress, std::string, std::vector<checkpoint>>,
    // Stops every task and then the supervisor itself (server shutdown).
    caf::reacts_to<atom::shutdown>>;

} // namespace cdc
