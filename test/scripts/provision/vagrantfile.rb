# Loads the project's Vagrantfile against a recorder of the few parts of
# Vagrant's configuration DSL it uses, and prints what it configured as
# JSON: the provisioners (path, args, env) and the synced folders, with the
# provider overrides apart. Tests read the provisioning arguments from here,
# so they are the Vagrantfile's own and cannot drift.
#
#   ruby vagrantfile.rb /path/to/Vagrantfile

require "json"

# Any setter (vb.cpus = 4) is recorded; nothing else is needed of a provider.
class Recorder
  attr_reader :values

  def initialize
    @values = {}
  end

  def method_missing(name, *args)
    key = name.to_s
    return super unless key.end_with?("=") && args.length == 1

    @values[key.chomp("=")] = args[0]
  end

  def respond_to_missing?(name, include_private = false)
    name.to_s.end_with?("=") || super
  end
end

# config.vm: settings, synced folders, providers, provisioners.
class VmRecorder < Recorder
  attr_reader :synced_folders, :providers, :provisioners

  def initialize
    super
    @synced_folders = []
    @providers = {}
    @provisioners = []
  end

  def synced_folder(host, guest, **options)
    @synced_folders << { "host" => host, "guest" => guest, "options" => options }
  end

  def provider(name)
    provider = Recorder.new
    override = ConfigRecorder.new
    yield provider, override
    @providers[name.to_s] = { "settings" => provider.values, "override" => override.to_h }
  end

  def provision(name, **options)
    @provisioners << options.merge("name" => name)
  end
end

class ConfigRecorder
  attr_reader :vm

  def initialize
    @vm = VmRecorder.new
  end

  def to_h
    {
      "vm" => @vm.values,
      "synced_folders" => @vm.synced_folders,
      "providers" => @vm.providers,
      "provisioners" => @vm.provisioners,
    }
  end
end

module Vagrant
  @configs = []

  class << self
    attr_reader :configs

    def configure(version)
      raise "Vagrantfile asks for configuration version #{version}" unless version == "2"

      config = ConfigRecorder.new
      yield config
      @configs << config
    end
  end
end

vagrantfile = File.expand_path(ARGV.fetch(0))
# as Vagrant does: __dir__ in the Vagrantfile is its own folder
load vagrantfile
puts JSON.generate(Vagrant.configs.map(&:to_h))
