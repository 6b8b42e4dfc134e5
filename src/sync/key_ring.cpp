#include "sync/key_ring.hpp"

#include "util/tenant.hpp"

namespace runmirror {

key_ring::key_ring(std::string service_key) : service_key_(std::move(service_key)) {}

std::string key_ring::remember(std::string_view api_key) {
    std::string tenant = tenant_of_key(api_key);
    remember(api_key, tenant);
    return tenant;
}

bool key_ring::remember(std::string_view api_key, const std::string& tenant) {
    std::lock_guard lock(mutex_);
    auto it = keys_.find(tenant);
    if (it != keys_.end() && it->second == api_key) return false;
    keys_.insert_or_assign(tenant, std::string(api_key));
    return true;
}

std::optional<std::string> key_ring::key_for(std::string_view tenant) const {
    std::lock_guard lock(mutex_);
    if (auto it = keys_.find(std::string(tenant)); it != keys_.end()) return it->second;
    if (!service_key_.empty()) return service_key_;
    return std::nullopt;
}

void key_ring::forget(std::string_view tenant) {
    std::lock_guard lock(mutex_);
    keys_.erase(std::string(tenant));
}

std::vector<std::string> key_ring::tenants() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    out.reserve(keys_.size());
    for (const auto& [tenant, key] : keys_)
        out.push_back(tenant);
    return out;
}

}  // namespace runmirror
