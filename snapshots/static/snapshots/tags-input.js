// Tag suggestions for comma-separated tag fields. A <datalist> suggests whole values only, so while
// the person types the last tag, the options are rewritten as "what is typed so far, <tag>".
// Without this script the datalist still suggests a single tag.
// Tags are split where the server splits them (snapshots.normalize.parse_tags): at whitespace and
// at the characters of the field's data-tag-separators attribute.
(function () {
  "use strict";

  function characterClass(separators, negated) {
    var escaped = separators.replace(/[\\\]^-]/g, "\\$&");
    return "[" + (negated ? "^" : "") + "\\s" + escaped + "]";
  }

  function setUp(input) {
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) {
      return;
    }
    var tags = Array.prototype.map.call(list.options, function (option) {
      return option.value;
    });
    // Each input gets its own list, so two tag fields on a page don't overwrite each other's.
    var own = document.createElement("datalist");
    own.id = list.id + "-" + (input.id || input.name);
    input.after(own);
    input.setAttribute("list", own.id);
    var single = input.getAttribute("data-tags-input") === "single";
    var separators = input.getAttribute("data-tag-separators") || "";
    var separator = new RegExp(characterClass(separators, false) + "+");
    var lastTag = new RegExp(
      "^(.*?" + characterClass(separators, false) + "+)?(" + characterClass(separators, true) + "*)$"
    );

    function refresh() {
      var value = input.value;
      var match = single ? ["", "", value] : value.match(lastTag);
      var prefix = (match && match[1]) || "";
      var typed = ((match && match[2]) || "").toLowerCase();
      var chosen = prefix.split(separator).map(function (t) { return t.toLowerCase(); });
      var options = tags.filter(function (tag) {
        var lower = tag.toLowerCase();
        return chosen.indexOf(lower) === -1 && (!typed || lower.indexOf(typed) !== -1);
      }).slice(0, 20);
      own.replaceChildren.apply(own, options.map(function (tag) {
        var option = document.createElement("option");
        option.value = prefix + tag;
        return option;
      }));
    }

    input.addEventListener("input", refresh);
    input.addEventListener("focus", refresh);
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-tags-input]"), setUp);
})();
