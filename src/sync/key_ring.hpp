#pragma once
// API keys the sync worker may poll with, in memory only: a client's own key, learned from its
// requests, or the configured service key. Keys never reach the store or the logs; watches
// name their tenant (util/tenant.hpp, a keyed hash of the key) and look the key up here when they
// are due. Thread-safe.

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace runmirror {

class key_ring {
  public:
    explicit key_ring(std::string service_key = {});

    // Remembers |api_key| for its tenant; returns the tenant.
    std::string remember(std::string_view api_key);
    // The same for a caller that has the tenant already; returns true when the ring did not
    // hold this key for it (a new or returning tenant). Cheap when nothing changes.
    bool remember(std::string_view api_key, const std::string& tenant);
    // The tenant's own key, else the service key, else nullopt (the watch waits).
    std::optional<std::string> key_for(std::string_view tenant) const;
    // The upstream refused the tenant's key (401): drop it.
    void forget(std::string_view tenant);
    // Tenants with a key of their own (the service key serves every tenant).
    std::vector<std::string> tenants() const;
    bool has_service_key() const { return !service_key_.empty(); }

  private:
    const std::string service_key_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::string> keys_;  // tenant -> key
};

}  // namespace runmirror
