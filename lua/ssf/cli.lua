-- Small helpers for command-line scripts: option parsing with --help, and
-- the exit conventions of ssflua (1 for a failure, 2 for a usage error).
local cli = {}

local function script_name()
  return (arg and arg[0] or "script"):match("[^/]+$")
end

--- Parses argv against spec and returns a table of option values, keyed
--- by option name without dashes ("dry-run" -> dry_run), plus positional
--- arguments in order. spec = { usage = "...", options = {
---   { "--endpoint", "URL", "what it does" }, { "--dry-run", nil, "..." } },
---   usage_status = N }
--- --help prints the usage and exits 0; a mistake prints it and exits 2
--- (or usage_status, for a script whose 2 means something else).
function cli.parse(argv, spec)
  local by_name = {}
  for _, o in ipairs(spec.options) do by_name[o[1]] = o end

  local function usage(out)
    out:write(("usage: ssflua %s %s\n"):format(script_name(), spec.usage or "[options]"))
    if spec.description then out:write("\n", spec.description, "\n") end
    out:write("\noptions:\n")
    for _, o in ipairs(spec.options) do
      out:write(("  %-26s %s\n"):format(o[1] .. (o[2] and " " .. o[2] or ""), o[3]))
    end
    out:write(("  %-26s %s\n"):format("-h, --help", "show this help"))
  end

  local function bad(msg)
    io.stderr:write(script_name(), ": ", msg, "\n")
    usage(io.stderr)
    os.exit(spec.usage_status or 2)
  end

  local opts, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[^=]+)=(.*)$")
    name = name or a
    if name == "-h" or name == "--help" then
      usage(io.stdout)
      os.exit(0)
    elseif by_name[name] then
      local o = by_name[name]
      local key = name:sub(3):gsub("%-", "_")
      if o[2] then
        local v = inline or argv[i + 1]
        if v == nil then bad(name .. " needs a value (" .. o[2] .. ")") end
        if not inline then i = i + 1 end
        opts[key] = v
      elseif inline then
        bad(name .. " takes no value")
      else
        opts[key] = true
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      bad("unknown option " .. name)
    else
      opts[#opts + 1] = a
    end
    i = i + 1
  end
  return opts, bad
end

--- Stops the script with a one-line message on stderr and exit status 1
--- (or `status`).
function cli.fail(msg, status)
  io.stderr:write(script_name(), ": ", msg, "\n")
  os.exit(status or 1)
end

--- Returns v alone, or stops the script with the failure's message.
function cli.check(v, msg)
  if v == nil then cli.fail(tostring(msg)) end
  return v
end

--- The value of environment variable `name`, or stops the script when it is
--- unset or empty. Secrets (header values) are passed this way, not in argv.
function cli.env(name)
  local v = os.getenv(name)
  if not v or v == "" then cli.fail(("environment variable %s is not set or empty"):format(name)) end
  return v
end

return cli
