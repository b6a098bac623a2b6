# deltair appliance AMI: Debian 12 with deltair built and installed by the same script the
# CI uses (image/install-deps.sh). Build: packer init packer && packer build packer
# Variables: region, instance_type, source AMI owner (Debian's account by default).
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "c6i.large"
}

variable "debian_owner" {
  type    = string
  default = "136693071363" # Debian's official AMI account
}

source "amazon-ebs" "deltair" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "admin"
  ami_name      = "deltair-{{timestamp}}"
  source_ami_filter {
    owners      = [var.debian_owner]
    most_recent = true
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
    }
  }
  metadata_options {
    http_tokens = "required" # IMDSv2 only
  }
  tags = {
    Name    = "deltair"
    Purpose = "disk forensics appliance"
  }
}

build {
  sources = ["source.amazon-ebs.deltair"]

  # The source tree as committed (git archive), unpacked under /opt/deltair/src.
  provisioner "shell-local" {
    inline = ["git -C ${path.root}/.. archive --format=tar.gz -o /tmp/deltair-src.tar.gz HEAD"]
  }
  provisioner "file" {
    source      = "/tmp/deltair-src.tar.gz"
    destination = "/tmp/deltair-src.tar.gz"
  }
  provisioner "shell" {
    execute_command = "sudo -E bash '{{ .Path }}'"
    inline = [
      "set -euo pipefail",
      "mkdir -p /opt/deltair/src && tar -xzf /tmp/deltair-src.tar.gz -C /opt/deltair/src",
      "cd /opt/deltair/src && image/install-deps.sh",
      "make -C /opt/deltair/src -j\"$(nproc)\" all",
      "make -C /opt/deltair/src install PREFIX=/usr/local",
      "deltair version",
    ]
  }
}
