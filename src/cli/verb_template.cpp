// `vm template list|show`: the templates a user can put in a cluster definition, from the
// user's and the system's templates.yaml (pcocc's `template` verb, same columns).
#include <iostream>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "error.hpp"
#include "image_templates.hpp"
#include "table.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

using config::Origin;
using config::Template;

std::string origin_name(Origin o) { return o == Origin::user ? "user" : "system"; }

// A setting's value as one line of text: strings bare, everything else as compact JSON.
std::string value_text(const nlohmann::json& v) {
  if (v.is_null() || v == "") return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

nlohmann::json template_summary(const Template& t) {
  return {{"name", t.name},
          {"origin", origin_name(t.origin)},
          {"description", t.description},
          {"resource-set", t.resource_set},
          {"image", t.image ? nlohmann::json(*t.image) : nlohmann::json(nullptr)},
          {"file", t.file.string()},
          {"line", t.line}};
}

class TemplateVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("template", "List and inspect VM templates");
    cmd_->require_subcommand(1);

    list_ = cmd_->add_subcommand("list", "List the user and system templates");
    list_->add_flag("--json", json_, "Print a JSON array instead of tables");

    show_ = cmd_->add_subcommand("show", "Show every setting of a template, inherited or not");
    show_->add_option("TEMPLATE", name_, "Template name")->required();
    show_->add_flag("--json", json_, "Print a JSON object instead of a table");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    config::Config cfg = config::load_config(config::config_dirs_from_env());
    if (list_->parsed()) return list(cfg);
    add_image_template(cfg, name_);
    return show(cfg);
  }

 private:
  int list(const config::Config& cfg) const {
    if (json_) {
      nlohmann::json out = nlohmann::json::array();
      for (Origin o : {Origin::user, Origin::system}) {
        for (const Template* t : cfg.templates_of(o)) out.push_back(template_summary(*t));
      }
      std::cout << out.dump(2) << '\n';
      return 0;
    }
    bool first = true;
    for (Origin o : {Origin::user, Origin::system}) {
      const auto templates = cfg.templates_of(o);
      if (!first) std::cout << '\n';
      first = false;
      std::cout << (o == Origin::user ? "User templates:\n" : "System templates:\n");
      Table table({"NAME", "DESCRIPTION", "RESOURCES", "IMAGE"});
      for (const Template* t : templates) {
        table.add_row({t->name, t->description, t->resource_set, t->image.value_or("-")});
      }
      if (table.empty()) {
        std::cout << "  (none)\n";
      } else {
        table.print(std::cout);
      }
    }
    return 0;
  }

  int show(const config::Config& cfg) const {
    const Template* t = cfg.find_template(name_);
    if (t == nullptr) {
      throw Error("template not found: " + name_ + " (`vm template list` shows the templates)",
                  ErrorKind::not_found);
    }
    const auto settings = t->settings();
    if (json_) {
      nlohmann::json out = template_summary(*t);
      out["inherits"] = t->parent ? nlohmann::json(*t->parent) : nlohmann::json(nullptr);
      nlohmann::json list = nlohmann::json::array();
      for (const auto& s : settings) {
        list.push_back({{"key", s.key},
                        {"value", s.value},
                        {"inherited", s.inherited},
                        {"defined-in", s.defined_in.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.defined_in)},
                        {"default", s.is_default}});
      }
      out["settings"] = std::move(list);
      std::cout << out.dump(2) << '\n';
      return 0;
    }
    std::cout << "Template " << t->name << " (" << origin_name(t->origin) << ", " << t->file.string() << ":"
              << t->line << ")\n";
    Table table({"SETTING", "INHERITED", "VALUE"});
    for (const auto& s : settings) {
      std::string from = s.is_default ? "default" : s.inherited ? "from " + s.defined_in : "no";
      table.add_row({s.key, from, value_text(s.value)});
    }
    table.print(std::cout);
    return 0;
  }

  CLI::App* cmd_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  bool json_ = false;
  std::string name_;
};

}  // namespace

std::unique_ptr<Verb> make_template_verb() {
  return std::make_unique<TemplateVerb>();
}

}  // namespace slurmvm::cli
