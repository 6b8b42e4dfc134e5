#include "json/run_fields.hpp"
#include "runmirror/store.hpp"

namespace runmirror {

bool store_result(store& db, const resource_kind& kind, std::string_view id, std::string_view body,
                  time_point now) {
    if (!is_json_object(body)) return false;
    run_fields fields;
    if (auto job = db.find_run(store_key(kind, id)); job && !job->deleted_at) {
        fields = job->fields;
    } else {
        fields.kind = &kind;
        fields.id = id;
    }
    fields.variant = result_variant;
    db.put_run(fields, body, now);
    return true;
}

}  // namespace runmirror
