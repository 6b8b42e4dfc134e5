#include "runmirror/store.hpp"

namespace runmirror {

run_fields result_fields(store& db, const resource_kind& kind, std::string_view id) {
    run_fields fields;
    if (auto job = db.find_run(store_key(kind, id)); job && !job->deleted_at) {
        fields = job->fields;
    } else {
        fields.kind = &kind;
        fields.id = id;
    }
    fields.variant = result_variant;
    return fields;
}

}  // namespace runmirror
