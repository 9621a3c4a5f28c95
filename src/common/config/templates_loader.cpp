// Templates from all templates files (templates_loader.hpp), in three passes: read every
// declaration, parsing each key once into the declaring template's own values; link each
// declaration to its parent and reject cycles; then resolve each template by copying every key
// from the nearest declaration up its chain, and apply the defaults.
#include "config/templates_loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <set>

#include "cluster_def.hpp"
#include "config/names.hpp"
#include "config/template_settings.hpp"

namespace slurmvm::config {
namespace {

// One template as a file declares it, before inheritance.
struct Declaration {
  std::string name;
  Origin origin;
  Value key;                                 // its name in the file
  Template own;                              // the values it declares itself
  std::vector<std::optional<Value>> values;  // per key of setting_specs(): as written
  std::vector<bool> gives_value;             // per key: declared with a value (not a reset)
  const Declaration* parent = nullptr;
};

class Loader {
 public:
  explicit Loader(const ResourceSetMap& sets)
      : sets_(sets),
        inherits_(setting_index("inherits")),
        resource_set_(setting_index("resource-set")) {
    for (const auto& [name, set] : sets_) {
      if (set.is_default) default_set_ = &set;
    }
  }

  void read(const Value& root, Origin origin) {
    for (const auto& entry : root.as_map().entries()) {
      check_template_name(entry);
      auto& index = origin == Origin::user ? user_ : system_;
      if (auto first = index.find(entry.name); first != index.end()) {
        entry.key.fail(fmt::format("duplicate template, first defined at {}:{}",
                                   first->second->key.file(), first->second->key.line()));
      }
      Declaration& d =
          decls_.emplace_back(Declaration{entry.name, origin, entry.key, {}, {}, {}, nullptr});
      read_settings(entry.value, d);
      index.emplace(d.name, &d);
    }
  }

  void link() {
    for (Declaration& d : decls_) link(d);
  }

  // Every template has one parent at most, so a cycle shows as a template met twice going up.
  void reject_cycles() const {
    std::set<const Declaration*> acyclic;
    for (const Declaration& d : decls_) {
      std::vector<const Declaration*> chain;
      for (const Declaration* p = &d; p != nullptr && !acyclic.contains(p); p = p->parent) {
        if (auto seen = std::find(chain.begin(), chain.end(), p); seen != chain.end()) {
          std::string cycle;
          for (auto it = seen; it != chain.end(); ++it) cycle += (*it)->name + " -> ";
          p->values[inherits_]->fail("inheritance cycle: " + cycle + p->name);
        }
        chain.push_back(p);
      }
      acyclic.insert(chain.begin(), chain.end());
    }
  }

  TemplateSet resolve() const {
    TemplateSet out;
    for (const Declaration& d : decls_) {
      (d.origin == Origin::user ? out.user : out.system).emplace(d.name, resolve(d));
    }
    return out;
  }

 private:
  static void check_template_name(const Mapping::Entry& entry) {
    if (entry.name.starts_with('_'))
      entry.key.fail("template names starting with '_' are reserved");
    if (!is_valid_template_name(entry.name)) {
      entry.key.fail(
          "invalid template name (expected a letter, then letters, digits, '_', '-' or '.')");
    }
  }

  // Unknown keys are reported before bad values: a misspelt key is the likelier mistake.
  static void read_settings(const Value& body, Declaration& d) {
    Mapping m = body.as_map();
    const auto specs = setting_specs();
    for (const SettingSpec& spec : specs) d.values.push_back(m.get(spec.key));
    m.reject_unknown_keys();
    d.gives_value.resize(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& v = d.values[i];
      d.gives_value[i] = v && !v->is_null() && specs[i].parse(*v, d.own);
    }
  }

  const Declaration* find(Origin origin, std::string_view name) const {
    const auto& index = origin == Origin::user ? user_ : system_;
    auto it = index.find(name);
    return it == index.end() ? nullptr : it->second;
  }

  void link(Declaration& d) const {
    if (!d.gives_value[inherits_]) return;
    const std::string& wanted = *d.own.parent;
    const Value& at = *d.values[inherits_];
    if (d.origin == Origin::user) {
      if (wanted != d.name) d.parent = find(Origin::user, wanted);
      if (d.parent == nullptr) d.parent = find(Origin::system, wanted);
      if (d.parent == nullptr && wanted == d.name) {
        at.fail(
            fmt::format("a template cannot inherit from itself (a user template can extend the "
                        "system template it shadows, but there is no system template \"{}\")",
                        wanted));
      }
    } else {
      d.parent = find(Origin::system, wanted);
      if (d.parent == nullptr && find(Origin::user, wanted) != nullptr) {
        at.fail(
            fmt::format("\"{}\" is a user template; system templates can only inherit from "
                        "system templates",
                        wanted));
      }
    }
    if (d.parent == nullptr) at.fail(fmt::format("unknown template \"{}\"", wanted));
  }

  Template resolve(const Declaration& d) const {
    Template t;
    t.name = d.name;
    t.origin = d.origin;
    t.file = d.key.file();
    t.line = d.key.line();
    if (d.parent != nullptr) t.parent_origin = d.parent->origin;
    const auto specs = setting_specs();
    std::vector<const Declaration*> declared_by(specs.size(), nullptr);
    t.sources.resize(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const Declaration* src = &d;
      while (src != nullptr && !src->values[i]) src = specs[i].inheritable ? src->parent : nullptr;
      if (src == nullptr) continue;
      declared_by[i] = src;
      t.sources[i] = {src->name, src->key.file(), src->values[i]->line(), src != &d,
                      !src->gives_value[i]};
      if (src->gives_value[i]) specs[i].copy(src->own, t);
    }
    resolve_resource_set(d, declared_by[resource_set_], t);
    return t;
  }

  void resolve_resource_set(const Declaration& d, const Declaration* declared_by,
                            Template& t) const {
    if (t.resource_set.empty()) {
      if (default_set_ == nullptr) {
        d.key.fail("no resource-set, and resources.yaml has no default set (`default: true`)");
      }
      t.resource_set = default_set_->name;
      return;
    }
    if (!sets_.contains(t.resource_set)) {
      declared_by->values[resource_set_]->fail(
          fmt::format("unknown resource set \"{}\" ({})", t.resource_set,
                      defined_names(sets_, "resources.yaml defines none")));
    }
  }

  const ResourceSetMap& sets_;
  const std::size_t inherits_;
  const std::size_t resource_set_;
  const ResourceSet* default_set_ = nullptr;
  std::deque<Declaration> decls_;  // stable addresses: declarations point at their parents
  std::map<std::string, const Declaration*, std::less<>> system_;
  std::map<std::string, const Declaration*, std::less<>> user_;
};

}  // namespace

TemplateSet load_templates(std::span<const Value> system_files, std::span<const Value> user_files,
                           const ResourceSetMap& resource_sets) {
  Loader loader(resource_sets);
  for (const Value& root : system_files) loader.read(root, Origin::system);
  for (const Value& root : user_files) loader.read(root, Origin::user);
  loader.link();
  loader.reject_cycles();
  return loader.resolve();
}

}  // namespace slurmvm::config
