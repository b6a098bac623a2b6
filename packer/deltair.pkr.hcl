# deltair appliance: one template, two sources, provisioned by image/'s scripts alone.
#   amazon-ebs.deltair  the AMI (Debian 12 by default; Amazon Linux 2023: see base_ami_name)
#   qemu.deltair        the same appliance as a local raw disk (on-premises, and the boot test)
# Build: make deb && packer build -only=amazon-ebs.deltair packer/   (docs/operator-guide.md)
# Packer 1.6.6 (Debian 12) has both builders built in. Packer 1.10 and later need the plugins
# first: packer plugins install github.com/hashicorp/amazon; ... github.com/hashicorp/qemu.

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region the AMI is built and registered in."
}

variable "instance_type" {
  type        = string
  default     = "c6i.large"
  description = "Instance type of the build instance."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the build instance (it needs a route to the package mirror); empty: the default VPC."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key (id, alias or ARN) that encrypts the build volume and the AMI's snapshots; empty: the account's aws/ebs key."
}

variable "base_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Owner of the base AMI: 136693071363 is Debian's account. Amazon Linux 2023: amazon."
}

variable "base_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter of the base AMI, the newest match wins. Amazon Linux 2023: al2023-ami-2023.*-x86_64 (with ssh_username ec2-user; image/provision.sh installs with apt, so that step needs an RPM of the same layout there: docs/operator-guide.md)."
}

variable "ssh_username" {
  type        = string
  default     = "admin"
  description = "Login of the base AMI: admin on Debian, ec2-user on Amazon Linux."
}

variable "volume_size" {
  type        = number
  default     = 8
  description = "Root volume size of the AMI, GiB."
}

variable "ami_name_prefix" {
  type    = string
  default = "deltair"
}

variable "tags" {
  type        = map(string)
  default     = { Project = "deltair", Purpose = "disk forensics appliance" }
  description = "Tags of the AMI and its snapshots (the build instance and volume get them too)."
}

variable "deb" {
  type        = string
  default     = "build/deltair_0.1.0_amd64.deb"
  description = "The package make deb built, relative to the repository's top (run packer from there)."
}

variable "qemu_base_image" {
  type        = string
  default     = "build/appliance/base.raw"
  description = "qemu source: the mmdebstrap'd Debian 12 base disk (raw), with openssh-server and the build key authorised for root."
}

variable "qemu_ssh_private_key_file" {
  type        = string
  default     = "build/appliance/build-key"
  description = "qemu source: the private key the base disk authorises for root (removed again by image/cleanup.sh)."
}

variable "qemu_accelerator" {
  type        = string
  default     = "kvm"
  description = "qemu source: kvm, or tcg where there is no /dev/kvm (plain emulation, slower)."
}

variable "qemu_output_directory" {
  type    = string
  default = "build/appliance/out"
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "amazon-ebs" "deltair" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = var.ssh_username
  ami_name      = "${var.ami_name_prefix}-${local.stamp}"
  source_ami_filter {
    owners      = [var.base_ami_owner]
    most_recent = true
    filters = {
      name                = var.base_ami_name
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }
  # Encrypted build volume and AMI snapshots.
  encrypt_boot = true
  kms_key_id   = var.kms_key_id
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }
  tags            = var.tags
  snapshot_tags   = var.tags
  run_tags        = var.tags
  run_volume_tags = var.tags
}

source "qemu" "deltair" {
  iso_url              = var.qemu_base_image
  iso_checksum         = "none"
  disk_image           = true
  use_backing_file     = false
  format               = "raw"
  disk_interface       = "virtio"
  net_device           = "virtio-net"
  accelerator          = var.qemu_accelerator
  headless             = true
  memory               = 1024
  cpus                 = 2
  output_directory     = var.qemu_output_directory
  vm_name              = "deltair.raw"
  ssh_username         = "root"
  ssh_private_key_file = var.qemu_ssh_private_key_file
  ssh_timeout          = "15m"
  shutdown_command     = "systemctl poweroff"
  boot_wait            = "5s"
}

build {
  sources = ["source.amazon-ebs.deltair", "source.qemu.deltair"]

  # Only files from the tree: the package and image/'s scripts. Nothing inline.
  provisioner "file" {
    source      = var.deb
    destination = "/tmp/deltair.deb"
  }
  provisioner "file" {
    source      = "image"
    destination = "/tmp"
  }
  # As root (sudo: the AMI's admin user; root on the qemu base, which has sudo too).
  provisioner "shell" {
    execute_command  = "sudo env {{ .Vars }} bash '{{ .Path }}'"
    environment_vars = ["DELTAIR_DEB=/tmp/deltair.deb", "DELTAIR_IMAGE=/tmp/image"]
    scripts          = ["image/provision.sh", "image/cleanup.sh"]
  }

  # IMDSv2 only: Packer 1.6.6 cannot set it on the build instance or the AMI, so the AMI is
  # registered IMDSv2-only afterwards (ImdsSupport v2.0: every instance launched from it
  # requires session tokens); the fleet's launch template requires them as well.
  post-processor "manifest" {
    output = "build/packer-manifest.json"
  }
  post-processor "shell-local" {
    only             = ["amazon-ebs.deltair"]
    environment_vars = ["AWS_REGION=${var.region}", "PACKER_MANIFEST=build/packer-manifest.json"]
    script           = "image/ami-imdsv2.sh"
  }
}
