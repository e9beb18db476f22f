/**
 * The OTLP trace messages (opentelemetry-proto: trace.proto, common.proto, resource.proto, trace_service.proto) and
 * the google.rpc/google.protobuf messages of responses, as `field number → "<proto type> <field name>"`. The
 * decoders' switches use the numbers as literals (with the name beside each); this table words errors and tells a
 * known field from an unknown one.
 *
 * A field listed here is "known": meeting it with another wire type is an error. Fields not listed (newer ones, and
 * deprecated ones such as ResourceSpans 1000 or Status 1) are skipped.
 */
import type { MessageInfo } from './proto-reader.js';

export const EXPORT_REQUEST: MessageInfo = { name: 'ExportTraceServiceRequest', fields: { 1: 'message resource_spans' } };
export const RESOURCE_SPANS: MessageInfo = { name: 'ResourceSpans', fields: { 1: 'message resource', 2: 'message scope_spans', 3: 'string schema_url' } };
export const RESOURCE: MessageInfo = { name: 'Resource', fields: { 1: 'message attributes', 2: 'uint32 dropped_attributes_count' } };
export const SCOPE_SPANS: MessageInfo = { name: 'ScopeSpans', fields: { 1: 'message scope', 2: 'message spans', 3: 'string schema_url' } };
export const SCOPE: MessageInfo = {
  name: 'InstrumentationScope',
  fields: { 1: 'string name', 2: 'string version', 3: 'message attributes', 4: 'uint32 dropped_attributes_count' },
};
export const SPAN: MessageInfo = {
  name: 'Span',
  fields: {
    1: 'bytes trace_id',
    2: 'bytes span_id',
    3: 'string trace_state',
    4: 'bytes parent_span_id',
    5: 'string name',
    6: 'enum kind',
    7: 'fixed64 start_time_unix_nano',
    8: 'fixed64 end_time_unix_nano',
    9: 'message attributes',
    10: 'uint32 dropped_attributes_count',
    11: 'message events',
    12: 'uint32 dropped_events_count',
    13: 'message links',
    14: 'uint32 dropped_links_count',
    15: 'message status',
    16: 'fixed32 flags',
  },
};
export const EVENT: MessageInfo = {
  name: 'Span.Event',
  fields: { 1: 'fixed64 time_unix_nano', 2: 'string name', 3: 'message attributes', 4: 'uint32 dropped_attributes_count' },
};
export const LINK: MessageInfo = {
  name: 'Span.Link',
  fields: { 1: 'bytes trace_id', 2: 'bytes span_id', 3: 'string trace_state', 4: 'message attributes', 5: 'uint32 dropped_attributes_count', 6: 'fixed32 flags' },
};
export const STATUS: MessageInfo = { name: 'Status', fields: { 2: 'string message', 3: 'enum code' } };
export const KEY_VALUE: MessageInfo = { name: 'KeyValue', fields: { 1: 'string key', 2: 'message value' } };
export const ANY_VALUE: MessageInfo = {
  name: 'AnyValue',
  fields: { 1: 'string string_value', 2: 'bool bool_value', 3: 'int64 int_value', 4: 'double double_value', 5: 'message array_value', 6: 'message kvlist_value', 7: 'bytes bytes_value' },
};
export const ARRAY_VALUE: MessageInfo = { name: 'ArrayValue', fields: { 1: 'message values' } };
export const KEY_VALUE_LIST: MessageInfo = { name: 'KeyValueList', fields: { 1: 'message values' } };

export const EXPORT_RESPONSE: MessageInfo = { name: 'ExportTraceServiceResponse', fields: { 1: 'message partial_success' } };
export const PARTIAL_SUCCESS: MessageInfo = { name: 'ExportTracePartialSuccess', fields: { 1: 'int64 rejected_spans', 2: 'string error_message' } };
export const RPC_STATUS: MessageInfo = { name: 'google.rpc.Status', fields: { 1: 'int32 code', 2: 'string message', 3: 'message details' } };
export const ANY: MessageInfo = { name: 'google.protobuf.Any', fields: { 1: 'string type_url', 2: 'bytes value' } };
export const RETRY_INFO: MessageInfo = { name: 'google.rpc.RetryInfo', fields: { 1: 'message retry_delay' } };
export const DURATION: MessageInfo = { name: 'google.protobuf.Duration', fields: { 1: 'int64 seconds', 2: 'int32 nanos' } };

/** AnyValue nesting (arrays in kvlists in arrays…) deeper than this is rejected, so input cannot exhaust the stack. */
export const MAX_VALUE_DEPTH = 64;
